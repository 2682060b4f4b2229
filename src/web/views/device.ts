import { html } from './html.js';
import { layout } from './layout.js';

interface DeviceView {
  demo: boolean;
  user: string;
  csrf: string;
}

export function deviceEntryPage(options: DeviceView & { userCode?: string; error?: string }): string {
  return layout({
    title: 'Connect a device',
    demo: options.demo,
    user: options.user,
    body: html`<section class="card narrow">
  <h1>Connect a device</h1>
  <p>Enter the code shown by <code>gatehouse login --device</code>.</p>
  ${options.error ? html`<p class="message error-text" id="device-error">${options.error}</p>` : ''}
  <form method="post" action="/device">
    <input type="hidden" name="csrf" value="${options.csrf}">
    <p><input name="user_code" id="user_code" autocomplete="off" autofocus placeholder="ABCD-EFGH" value="${options.userCode ?? ''}"></p>
    <p><button type="submit">Continue</button></p>
  </form>
</section>`,
  });
}

export function deviceConfirmPage(options: DeviceView & { userCode: string }): string {
  return layout({
    title: 'Approve device',
    demo: options.demo,
    user: options.user,
    body: html`<section class="card narrow">
  <h1>Approve this device?</h1>
  <p>The Gatehouse CLI with code <strong id="confirm-code">${options.userCode}</strong> will act as <strong>${options.user}</strong>:
  it can fetch Kubernetes credentials and SSH certificates in your name until you sign out of it.</p>
  <p>Only approve a code you started yourself.</p>
  <form method="post" action="/device/decide" class="inline">
    <input type="hidden" name="csrf" value="${options.csrf}">
    <input type="hidden" name="user_code" value="${options.userCode}">
    <button type="submit" name="decision" value="approve" id="approve">Approve</button>
    <button type="submit" name="decision" value="deny" id="deny" class="secondary">Deny</button>
  </form>
</section>`,
  });
}

export function deviceDonePage(options: Omit<DeviceView, 'csrf'> & { approved: boolean }): string {
  return layout({
    title: 'Device',
    demo: options.demo,
    user: options.user,
    body: html`<section class="card narrow">
  <h1 id="device-result">${options.approved ? 'Device approved' : 'Device denied'}</h1>
  <p>${options.approved ? 'You can return to your terminal.' : 'The device was not given access.'}</p>
</section>`,
  });
}

export function cliDonePage(options: { demo: boolean }): string {
  return layout({
    title: 'Signed in',
    demo: options.demo,
    body: html`<section class="card narrow"><h1>Signed in</h1><p>You can close this tab and return to your terminal.</p></section>`,
  });
}
