"""Every exception the tap raises or passes between its parts, in one place.

```
Exception
 ├── TapError                 ends the run: one clear line, exit 1
 │    ├── ConfigError         a setting, input file or saved state is wrong
 │    ├── HubSpotError        HubSpot refused in a way retrying cannot fix
 │    │    ├── BadRequest     HubSpot called the request invalid (400)
 │    │    └── MalformedAnswer HubSpot's answer is not what it documents
 │    ├── IncompleteSyncError some ids still failed after every retry
 │    └── OutputClosed        the reader of stdout (the target) went away
 ├── Cancelled                another request failed the run: stop waiting
 ├── Transient                this attempt failed; a later one may not (client only)
 └── Renewed                  the token was renewed: send again (client only)
```

`TapError` is what users see; the other three are signals inside the tap and never
reach the user.
"""

from __future__ import annotations


class TapError(Exception):
    """A problem the user can act on; its message is the whole story."""


class ConfigError(TapError):
    """A setting or input file is wrong."""


class HubSpotError(TapError):
    """HubSpot refused a request in a way retrying cannot fix; `status` is the HTTP
    status of its answer, when one said so."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class BadRequest(HubSpotError):
    """HubSpot called the request invalid (400)."""


class MalformedAnswer(HubSpotError):
    """An answer HubSpot would not send (a wrong type, a missing field): named, not used."""


class IncompleteSyncError(TapError):
    """Some ids still failed after every retry; everything else was emitted."""


class OutputClosed(TapError):
    """Nothing reads the tap's output any more: the target stopped or the pipe closed."""

    def __init__(self) -> None:
        super().__init__(
            "the output pipe closed: the target (or whatever read stdout) stopped reading; "
            "the run is incomplete and its last STATE marks where to resume"
        )


class Cancelled(Exception):
    """The caller gave up on this request (another one failed the run)."""


class Transient(Exception):
    """A failure that a later attempt may not see.

    `wait` is what HubSpot asked for (None: back off), and `rate_limited` says the
    attempt was refused by a rate limit, which does not count as a failed retry.
    """

    def __init__(
        self, reason: str, wait: float | None = None, *, rate_limited: bool = False
    ) -> None:
        super().__init__(reason)
        self.wait = wait
        self.rate_limited = rate_limited


class Renewed(Exception):
    """The token was renewed after HubSpot called it expired: send the request again."""
