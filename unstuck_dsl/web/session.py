"""Who may write from a browser: a session cookie derived from the server's write token, and a
CSRF token bound to that session in every form.

Signing in is proving the token once: the start-up address `/?token=T` (or the sign-in form,
`POST /login`) sets the cookie and sends the browser on to an address without the token. The
cookie holds a random session id and its HMAC under a key derived from the write token; it is
HttpOnly (no script reads it) and SameSite=Strict (another site's page cannot make the browser
send it). Every form that writes carries `csrf`, an HMAC of the session id under the same key:
a write needs both, checked in constant time, so a page on another site can neither send the
cookie nor know the form's token. Nothing is kept on the server: a restarted server with the
same token accepts the same sessions; a new token ends them all."""

from __future__ import annotations

import hashlib
import hmac
import secrets

import attrs

COOKIE = "unstuck_session"
CSRF_FIELD = "csrf"
_SESSION_ID_BYTES = 18


@attrs.frozen
class Sessions:
    """Sessions signed under a key derived from the write token."""

    key: bytes
    token: str = attrs.field(repr=False)
    secure: bool = False  # the cookie's Secure flag: only when the pages are served over https

    @classmethod
    def for_token(cls, token: str, secure: bool = False) -> Sessions:
        key = hmac.new(token.encode("utf-8"), b"unstuck web session key", hashlib.sha256).digest()
        return cls(key, token, secure)

    def _sign(self, purpose: str, session_id: str) -> str:
        return hmac.new(self.key, f"{purpose}:{session_id}".encode(), hashlib.sha256).hexdigest()

    def token_matches(self, given: str) -> bool:
        return hmac.compare_digest(given.encode("utf-8"), self.token.encode("utf-8"))

    def new_cookie(self) -> str:
        session_id = secrets.token_urlsafe(_SESSION_ID_BYTES)
        return f"{session_id}.{self._sign('session', session_id)}"

    def session_of(self, cookie: str | None) -> str | None:
        """The session id a cookie holds when its signature is ours, else None."""
        session_id, _, signature = (cookie or "").partition(".")
        if not session_id or not hmac.compare_digest(signature.encode(), self._sign("session", session_id).encode()):
            return None
        return session_id

    def csrf(self, session_id: str) -> str:
        return self._sign("csrf", session_id)

    def csrf_matches(self, session_id: str, given: str) -> bool:
        return hmac.compare_digest(given.encode("utf-8"), self.csrf(session_id).encode())

    def set_cookie(self, response, value: str) -> None:
        response.set_cookie(COOKIE, value, httponly=True, samesite="strict", secure=self.secure, path="/")
