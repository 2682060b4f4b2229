// @ts-check
/**
 * Copy buttons next to commands on "My access" (/static/copy-command.js; CSP allows no inline
 * script). A button's `data-copy` holds the exact text. The Clipboard API needs a secure context
 * (https, or http on localhost); elsewhere the command's text is selected for Ctrl-C instead.
 */
(function () {
  /**
   * @param {HTMLButtonElement} button
   * @param {string} label
   */
  function done(button, label) {
    button.textContent = label;
    setTimeout(function () {
      button.textContent = 'Copy';
    }, 1500);
  }

  /** @param {HTMLButtonElement} button */
  function selectCommand(button) {
    const code = button.parentElement && button.parentElement.querySelector('code');
    const selection = window.getSelection();
    if (!code || !selection) return;
    const range = document.createRange();
    range.selectNodeContents(code);
    selection.removeAllRanges();
    selection.addRange(range);
    done(button, 'Press Ctrl-C');
  }

  document.addEventListener('click', function (ev) {
    const target = /** @type {Element | null} */ (ev.target);
    const button = target && target.closest ? /** @type {HTMLButtonElement | null} */ (target.closest('button.copy')) : null;
    if (!button) return;
    const text = button.dataset.copy || '';
    if (!navigator.clipboard || !window.isSecureContext) return selectCommand(button);
    navigator.clipboard.writeText(text).then(
      function () {
        done(button, 'Copied');
      },
      function () {
        selectCommand(button);
      },
    );
  });
})();
