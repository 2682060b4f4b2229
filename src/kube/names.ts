/** Prefix of Kubernetes usernames for Gatehouse identities, so they never collide with built-in users. */
export const KUBE_USERNAME_PREFIX = 'gatehouse:';
