// The quote page's price lock, counted down. It counts from the seconds the server said were
// left when it answered, not from the browser's clock, which may be off. At zero the page says
// the lock has expired and disables the Reserve buttons (the server refuses them anyway).
(() => {
  const lock = document.getElementById("price-lock");
  const output = document.getElementById("countdown");
  if (!lock || !output) {
    return;
  }
  const deadline = Date.now() + Number(lock.dataset.secondsLeft) * 1000;
  let timer = null;
  const show = () => {
    const left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    if (left > 0) {
      const seconds = String(left % 60).padStart(2, "0");
      output.textContent = `${Math.floor(left / 60)}:${seconds} left.`;
      return;
    }
    output.textContent = "The price lock has expired: ask for a new quote.";
    lock.classList.add("expired");
    document.querySelectorAll(".reserve-plan button").forEach((button) => {
      button.disabled = true;
    });
    clearInterval(timer);
  };
  show();
  timer = setInterval(show, 1000);
})();
