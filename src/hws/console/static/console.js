// The operator console's only script (the Content-Security-Policy allows no other).
// Forms marked data-confirm ask before they are sent; elements marked data-autosubmit
// send their form when changed.
"use strict";
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});
document.addEventListener("change", (event) => {
  const field = event.target;
  if (field instanceof HTMLElement && field.dataset.autosubmit !== undefined && field.form) {
    field.form.requestSubmit();
  }
});
