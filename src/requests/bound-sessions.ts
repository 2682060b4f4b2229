/**
 * Long-lived sessions admitted with roles from access requests (SSH connections, web terminals,
 * kubectl exec streams, app WebSockets). When one of those requests expires or is revoked, each
 * session bound to it ends; a session holding several ends with the first.
 */
export interface RequestBoundSessions {
  /** Binds a session to the requests it was admitted under; returns the unbind (call it when the session closes). */
  bind(requestIds: readonly string[], end: (requestId: string) => void): () => void;
  /** Ends the sessions bound to this request; returns how many. */
  endFor(requestId: string): number;
}

/**
 * `inEffect` tells whether a request still is: a session admitted from an access decision made
 * before its request ended (a cached app decision, an upstream connect that took a while) binds
 * after `endFor` ran, so it is ended as it binds.
 */
export function createRequestBoundSessions(inEffect: (requestId: string) => boolean = () => true): RequestBoundSessions {
  const bound = new Map<string, Set<(requestId: string) => void>>();
  return {
    bind(requestIds, end) {
      if (!requestIds.length) return () => {};
      let ended = false;
      const once = (requestId: string) => {
        if (ended) return;
        ended = true;
        unbind();
        end(requestId);
      };
      const unbind = () => {
        for (const id of requestIds) {
          bound.get(id)?.delete(once);
          if (bound.get(id)?.size === 0) bound.delete(id);
        }
      };
      for (const id of requestIds) {
        if (!bound.has(id)) bound.set(id, new Set());
        bound.get(id)!.add(once);
      }
      const alreadyEnded = requestIds.find((id) => !inEffect(id));
      // After the caller has set up (it may still be wiring the session when bind returns).
      if (alreadyEnded !== undefined) queueMicrotask(() => once(alreadyEnded));
      return unbind;
    },
    endFor(requestId) {
      const ends = [...(bound.get(requestId) ?? [])];
      for (const end of ends) end(requestId);
      return ends.length;
    },
  };
}
