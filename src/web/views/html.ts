// The escaping helpers live in core (the demo IdP renders pages too); web's views import them here.
export { SafeHtml, html } from '../../core/html.js';
