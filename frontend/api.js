/*
 * api.js: the page's HTTP client for the gateway (docs/API.md) and the translation of its
 * errors into words a person understands. Not for live data: that arrives over SSE (app.js).
 */
'use strict';
(function () {
  /* ApiError: one failed request; `words` is what the page shows. */
  class ApiError extends Error {
    constructor(status, body, words) {
      super(words);
      this.status = status;
      this.code = (body && body.code) || (status ? 'HTTP_' + status : 'NETWORK');
      this.serverMessage = (body && body.message) || '';
      this.details = (body && Array.isArray(body.details)) ? body.details : [];
      this.body = body;
      this.words = words;
      this.retryAfter = null;
    }
  }

  /* api_words: a sentence for an error answer, by its code and HTTP status. */
  function api_words(status, body, retryAfter) {
    const code = body && body.code;
    const msg = body && body.message ? body.message : '';
    if (!status) return 'Cannot reach the gateway — is it running? (network error)';
    switch (code) {
      case 'UNAVAILABLE': {
        /* a node that knows the leader names it: the leadership moved while the gateway
         * was sending, and the redirect did not land in time (not "no leader") */
        const led = /the leader is node (\d+)/.exec(msg);
        if (led) return 'The leader changed while this was being sent (node ' + led[1] + ' leads now). Try again.';
        if (/no node is reachable/.test(msg)) return 'No node answered the gateway (are they all down?). ' + cap(msg) + '.';
        return 'The cluster has no leader right now (an election is probably under way). Try again in a second.' + (msg ? ' [' + msg + ']' : '');
      }
      case 'DEADLINE_EXCEEDED':
        return 'The cluster did not answer in time. A write may or may not have been applied — refresh to check.';
      case 'RESOURCE_EXHAUSTED':
        /* the gateway's --rate-limit (per address, /api/* only) or the leader's full queue */
        return (/rate limit/i.test(msg) ? 'Rate limited: too many requests from your address (the gateway\'s --rate-limit).'
          : 'Too many requests: the cluster is shedding load' + (msg ? ' (' + msg + ')' : '') + '.') +
          (retryAfter ? ' Retry in ' + retryAfter + ' s.' : '');
      case 'UNAUTHENTICATED': return 'Please log in first (Security panel)' + (msg ? ': ' + msg : '') + '.';
      case 'PERMISSION_DENIED': return 'Not allowed: ' + (msg || 'your role does not allow this action') + '.';
      case 'UNIMPLEMENTED': return 'Not available here: ' + (msg || 'this gateway does not support it') + '.';
      case 'INTERNAL': return 'The gateway hit an internal error (a bug): ' + (msg || 'no details') + '.';
      case 'NOT_FOUND': return msg ? cap(msg) + '.' : 'Not found.';
      case 'ABORTED':
        /* ABORTED is also a leadership transfer that gave up: no version is involved (it
         * read "Version conflict: leadership transfer gave up: …") */
        if (/^leadership transfer/i.test(msg)) return cap(msg) + '. The leadership did not move.';
        return 'Version conflict: ' + (msg || 'someone else changed it first') + '. Nothing was changed.';
      case 'ALREADY_EXISTS': return cap(msg || 'it already exists') + '.';
      case 'FAILED_PRECONDITION': return cap(msg || 'refused in the current state') + '.';
      case 'INVALID_ARGUMENT':
        if (body.details && body.details.length) {
          return 'Please fix: ' + body.details.map((d) => d.field + ' ' + d.description).join('; ') + '.';
        }
        return 'The request was refused: ' + (msg || 'invalid input') + '.';
      default: break;
    }
    if (status === 413) return 'That is too large for the gateway (the body limit is 1 MiB).';
    if (status === 405) return 'The gateway does not accept this method here.';
    if (status === 404) return 'Not found (' + (msg || 'no such route') + ').';
    if (status >= 500) return 'The gateway answered with an error (HTTP ' + status + ')' + (msg ? ': ' + msg : '') + '.';
    return msg ? cap(msg) + '.' : 'The request failed (HTTP ' + status + ').';
  }

  function cap(s) { return s ? s.charAt(0).toUpperCase() + s.slice(1) : s; }

  /*
   * api_request: method + path (+ JSON body, or `json`: a body that is JSON text already; extra
 * headers, timeout) → {status, data, headers, text} (`text`: the answer as received).
   * Throws ApiError on a network failure, a timeout or any status ≥ 400.
   */
  async function api_request(method, path, opts) {
    opts = opts || {};
    const headers = Object.assign({ Accept: 'application/json' }, opts.headers || {});
    const init = { method, headers, cache: 'no-store' };
    if (opts.json !== undefined) {
      /* a body that is JSON text already, sent as it is (the item form's metadata as typed) */
      headers['Content-Type'] = 'application/json';
      init.body = opts.json;
    } else if (opts.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(opts.body);
    }
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), opts.timeoutMs || 15000);
    init.signal = ctl.signal;
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      clearTimeout(timer);
      const words = e && e.name === 'AbortError'
        ? 'The gateway did not answer within ' + Math.round((opts.timeoutMs || 15000) / 1000) + ' s.'
        : api_words(0, null);
      throw new ApiError(0, null, words);
    }
    let data = null;
    let text = '';
    try {
      text = await res.text();
      if (text) {
        try { data = JSON.parse(text); } catch (e) { data = { message: text.slice(0, 200) }; }
      }
    } finally {
      clearTimeout(timer);
    }
    /* a 401 or 403 may mean the session changed (a logout in another tab, an expiry): the
     * page asks who it is again (api.onauth, set by app.js) */
    if ((res.status === 401 || res.status === 403) && typeof window.LP.api.onauth === 'function') {
      try { window.LP.api.onauth(path, res.status); } catch (e) { /* the error below still goes out */ }
    }
    if (!res.ok) {
      const retryAfter = res.headers.get('Retry-After');
      const err = new ApiError(res.status, data, api_words(res.status, data || {}, retryAfter));
      err.retryAfter = retryAfter;
      throw err;
    }
    return { status: res.status, data, headers: res.headers, text };
  }

  window.LP = window.LP || {};
  window.LP.api = { request: api_request, words: api_words, ApiError };
})();
