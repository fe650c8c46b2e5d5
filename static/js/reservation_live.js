// Reservations refreshed without a reload: the reservation page (#status) and the list of
// them (table#reservations). Polls the page's status.json while anything shown is active;
// stops once all of it has ended, and backs off when the tab is hidden or a poll fails.
(() => {
  const POLL_MS = 2000;
  const HIDDEN_POLL_MS = 15000;
  const detail = document.querySelector("[data-live-reservation]");
  const list = document.querySelector("table[data-live-reservations]");
  if (!detail && !list) {
    return;
  }

  const setBadge = (badge, status) => {
    if (badge.textContent.trim() !== status) {
      badge.textContent = status;
      badge.className = `badge ${status}`;
    }
  };

  const setText = (element, text) => {
    if (element && element.textContent !== text) {
      element.textContent = text;
    }
  };

  // The parts of the reservation page that a new state changes (the timeline, the attempts,
  // the runs, the reserved end), rendered by the server: the page fetched again, those parts
  // swapped in. Parsed, not run: DOMParser does not execute scripts.
  const LIVE_PARTS = ["reservation-card", "timeline", "attempts", "runs"];
  // What the page was rendered with, so that a change before the first poll shows too.
  let shown = detail
    ? {
        status: document.getElementById("status").textContent.trim(),
        attempts: Number(document.getElementById("attempt-count").textContent),
      }
    : null;

  const refreshParts = async () => {
    const response = await fetch(window.location.href, { headers: { Accept: "text/html" } });
    if (!response.ok) {
      return;
    }
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    for (const id of LIVE_PARTS) {
      const current = document.getElementById(id);
      const next = fresh.getElementById(id);
      if (current && next) {
        current.replaceWith(document.importNode(next, true));
      }
    }
  };

  const showDetail = async (state) => {
    if (shown.status !== state.status || shown.attempts !== state.attempts) {
      await refreshParts();
    }
    shown = { status: state.status, attempts: state.attempts };
    setBadge(document.getElementById("status"), state.status);
    setText(document.getElementById("cost"), `${state.cost} ${state.currency}`);
    setText(document.getElementById("attempt-count"), String(state.attempts));
    const connectLine = document.getElementById("connect-line");
    if (connectLine && "connect" in state) {
      setText(document.getElementById("connect"), state.connect);
      connectLine.hidden = !state.connect || !state.active;
    }
    const failure = document.getElementById("failure");
    if (failure) {
      setText(failure, state.failure_reason);
      failure.hidden = !state.failure_reason;
    }
    const terminate = document.getElementById("terminate-form");
    if (terminate && (!state.active || state.status === "terminating")) {
      terminate.remove();
    }
    return state.active;
  };

  const showList = (payload) => {
    let anyActive = false;
    for (const state of payload.reservations) {
      const row = list.querySelector(`tr[data-reservation="${state.id}"]`);
      if (!row) {
        continue;
      }
      setBadge(row.querySelector(".badge"), state.status);
      setText(row.querySelector(".cost"), `${state.cost} ${state.currency}`);
      anyActive = anyActive || state.active;
    }
    return anyActive;
  };

  const url = detail
    ? detail.dataset.liveReservation
    : `${list.dataset.liveReservations}?ids=${[...list.querySelectorAll("tr[data-reservation]")]
        .filter((row) => row.dataset.active === "true")
        .map((row) => row.dataset.reservation)
        .join(",")}`;
  if (list && url.endsWith("?ids=")) {
    return;
  }

  const poll = async () => {
    let keepGoing = true;
    let delay = document.hidden ? HIDDEN_POLL_MS : POLL_MS;
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      if (response.ok) {
        const payload = await response.json();
        keepGoing = detail ? await showDetail(payload) : showList(payload);
      } else {
        delay = HIDDEN_POLL_MS; // signed out, limited or a server error: ask less often
      }
    } catch (error) {
      delay = HIDDEN_POLL_MS; // the network: try again later
    }
    if (keepGoing) {
      setTimeout(poll, delay);
    }
  };
  setTimeout(poll, POLL_MS);
})();
