// @ts-check
/**
 * The recording page's script (/static/recording-player.js; CSP allows no inline script): starts
 * the player on #player. /static/asciinema-player.min.js, loaded before it, defines
 * window.AsciinemaPlayer.
 */

/**
 * @typedef {object} PlayerGlobals
 * @property {typeof import('asciinema-player')} [AsciinemaPlayer]
 * @property {import('asciinema-player').Player} [gatehousePlayer] for the e2e tests
 */

(function () {
  const page = /** @type {Window & PlayerGlobals} */ (window);
  const el = document.getElementById('player');
  if (!el || !page.AsciinemaPlayer) return;
  page.gatehousePlayer = page.AsciinemaPlayer.create(String(el.dataset.src), el, {
    cols: Number(el.dataset.cols) || 80,
    rows: Number(el.dataset.rows) || 24,
    fit: 'width',
    idleTimeLimit: 2,
    preload: true,
    autoPlay: true,
  });
})();
