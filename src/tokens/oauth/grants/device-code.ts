import { randomInt } from 'node:crypto';
import { randomId, sha256Hex } from '../../../core/ids.js';
import type { ExternalIdentity } from '../../../core/types.js';
import { getJson, setJson, takeJson } from '../../../store/store.js';
import type { GrantContext, OAuthForm } from '../context.js';
import { OAuthError } from '../errors.js';
import type { TokenResponse } from '../token-set.js';

const DEVICE_TTL_S = 600;
const DEVICE_INTERVAL_S = 5;
/** RFC 8628 §6.1: no vowels or look-alikes, so codes spell no words and survive reading aloud. */
const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';

const k = {
  device: (deviceCode: string) => `oauth:device:${sha256Hex(deviceCode)}`,
  devicePoll: (deviceCode: string) => `oauth:device-poll:${sha256Hex(deviceCode)}`,
  userCode: (userCode: string) => `oauth:user-code:${userCode}`,
};

interface DeviceGrant {
  clientId: string;
  scope: string;
  userCode: string;
  status: 'pending' | 'approved' | 'denied';
  identity?: ExternalIdentity;
  expiresAt: number;
}

/** RFC 8628 §3.2: the device authorization response. */
export interface DeviceAuthorization {
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete: string;
  expires_in: number;
  interval: number;
}

/** What a person typed, normalised (case, dashes, spaces). */
const normalise = (typed: string) => typed.toUpperCase().replace(/[^A-Z]/g, '');

/** The device authorization grant (RFC 8628). */
export function deviceCodeGrant(ctx: GrantContext) {
  const { store, options } = ctx;
  return {
    async startDeviceAuthorization(form: OAuthForm): Promise<DeviceAuthorization> {
      ctx.checkClient(form.client_id);
      const deviceCode = randomId(32);
      const userCode = Array.from({ length: 8 }, () => USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)]).join('');
      const grant: DeviceGrant = {
        clientId: options.clientId,
        scope: typeof form.scope === 'string' ? form.scope : 'openid',
        userCode,
        status: 'pending',
        expiresAt: ctx.clock.now() + DEVICE_TTL_S * 1000,
      };
      await setJson(store, k.device(deviceCode), grant, DEVICE_TTL_S);
      await store.set(k.userCode(userCode), deviceCode, DEVICE_TTL_S);
      const display = `${userCode.slice(0, 4)}-${userCode.slice(4)}`;
      return {
        device_code: deviceCode,
        user_code: display,
        verification_uri: options.verificationUri,
        verification_uri_complete: `${options.verificationUri}?user_code=${display}`,
        expires_in: DEVICE_TTL_S,
        interval: DEVICE_INTERVAL_S,
      };
    },

    async findUserCode(typed: string): Promise<{ userCode: string } | null> {
      const userCode = normalise(typed);
      if (userCode.length !== 8) return null;
      const deviceCode = await store.get(k.userCode(userCode));
      const grant = deviceCode ? await getJson<DeviceGrant>(store, k.device(deviceCode)) : null;
      return grant?.status === 'pending' ? { userCode } : null;
    },

    async decideDevice(typed: string, identity: ExternalIdentity, approve: boolean): Promise<boolean> {
      const deviceCode = await store.take(k.userCode(normalise(typed)));
      const grant = deviceCode ? await getJson<DeviceGrant>(store, k.device(deviceCode)) : null;
      if (!deviceCode || !grant || grant.status !== 'pending') return false;
      const decided: DeviceGrant = { ...grant, status: approve ? 'approved' : 'denied', identity: approve ? identity : undefined };
      await setJson(store, k.device(deviceCode), decided, ctx.ttlSeconds(grant.expiresAt));
      return true;
    },

    async pollDevice(form: OAuthForm): Promise<TokenResponse> {
      ctx.checkClient(form.client_id);
      const deviceCode = typeof form.device_code === 'string' ? form.device_code : '';
      const grant = await getJson<DeviceGrant>(store, k.device(deviceCode));
      if (!grant) throw new OAuthError('expired_token', 'The device code is unknown or has expired: start again.');
      if (grant.status === 'pending') {
        // The poll clock is a key of its own: rewriting the grant here could undo an approval made meanwhile.
        const onTime = await store.setIfAbsent(k.devicePoll(deviceCode), '1', DEVICE_INTERVAL_S);
        if (!onTime) throw new OAuthError('slow_down', `Poll at most every ${DEVICE_INTERVAL_S} seconds.`);
        throw new OAuthError('authorization_pending', 'The person has not approved this device yet.');
      }
      // Decided: take it once, so concurrent polls cannot start two logins.
      const decided = await takeJson<DeviceGrant>(store, k.device(deviceCode));
      if (!decided || decided.status === 'pending') throw new OAuthError('invalid_grant', 'The device code was already used.', 'device_code_used');
      if (decided.status === 'denied' || !decided.identity) throw new OAuthError('access_denied', 'The person denied this device.');
      const { family, refreshToken } = await ctx.families.start(decided.identity, decided.clientId, decided.scope);
      return ctx.issue(family, ctx.audienceOf(form.resource), refreshToken);
    },
  };
}
