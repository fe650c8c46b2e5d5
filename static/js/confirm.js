// Forms with a data-confirm attribute ask before they submit (the invoice's Void, for one).
// A static file rather than an onsubmit attribute: the Content-Security-Policy allows no
// inline script.
document.addEventListener("submit", (event) => {
  const message = event.target.dataset && event.target.dataset.confirm;
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
});
