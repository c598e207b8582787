"""The state of one emulator and what every route shares: its lifecycle (start, stop),
its clock and seeded chances, its log of exchanges and connections."""

from __future__ import annotations

import random
import select
import threading
import time
from collections import Counter, deque
from collections.abc import Mapping
from email.message import Message
from http.server import ThreadingHTTPServer
from urllib.parse import urlsplit

from hubspot_emulator.account import Account
from hubspot_emulator.clock import Clock
from hubspot_emulator.dialect import Dialect
from hubspot_emulator.faults import Faults, RateLimit, SearchIndex
from hubspot_emulator.http import Exchange, Handler, Reply, Server, Stats

MAX_INPUTS = 1000


BAD_GATEWAY_PAGE = (
    b"<html><head><title>502 Bad Gateway</title></head><body>Bad Gateway</body></html>"
)


SEARCH_CAP = 10_000


SEARCH_PAGE_MAX = 200


class EmulatorBase:
    def __init__(
        self,
        account: Account,
        *,
        page_size: int = 500,
        faults: Faults | None = None,
        rate_limit: RateLimit | None = None,
        tokens: Mapping[str, frozenset[str] | None] | None = None,
        oauth_clients: Mapping[str, tuple[str, str]] | None = None,
        token_ttl: float = 1800,
        token_ttl_claimed: float | None = None,
        seed: int = 0,
        search_cap: int = SEARCH_CAP,
        search_per_second: int = 5,
        search_lag_seconds: float = 2.0,
        search_index: SearchIndex | None = None,
        clock: Clock | None = None,
        dialect: Dialect | None = None,
    ) -> None:
        self.account = account
        self.dialect = dialect or Dialect()
        self._pending_left = self.dialect.pending_answers
        self._daily_answered = 0
        self._second: deque[float] = deque()
        self.clock = clock or account.clock
        """The emulator's time (the account's unless given): `clock.advance()` lets time
        pass for rate windows, search's lag and token expiry without waiting."""
        self.page_size = page_size
        self.faults = faults or Faults()
        self.rate_limit = rate_limit or RateLimit()
        self.tokens: dict[str, frozenset[str] | None] = dict(tokens or {"pat-test-token": None})
        self.oauth_clients = dict(oauth_clients or {})
        self.token_ttl = token_ttl
        self.token_ttl_claimed = token_ttl if token_ttl_claimed is None else token_ttl_claimed
        self.search_cap = search_cap
        self.search_per_second = search_per_second
        self.search_lag_seconds = search_lag_seconds
        self.search_index = search_index or SearchIndex()
        self._last_search: bytes | None = None
        self.stats = Stats()
        self._oauth_tokens: dict[str, float] = {}
        self._seed = seed
        self._rng = random.Random(seed)
        self._route_rngs: dict[str, random.Random] = {}
        self._lock = threading.Lock()
        self._window: deque[float] = deque()
        self._daily_used = 0
        self._scripted: Counter[str] = Counter()
        self._listing: dict[str, tuple[int, list[int]]] = {}
        self._search_window: deque[float] = deque()
        self._stop_stalls = threading.Event()
        self._connections = 0
        self._answered_any = False
        self._idle = threading.Condition(self._lock)
        self.first_request_at: float | None = None
        self.last_request_at: float | None = None
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the emulator first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._server = Server((host, port), Handler)
        self._server.emulator = self
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.url

    def handle(self, method: str, target: str, headers: Message, body: bytes) -> Reply:
        """The answer to one request (`server.Emulator` routes it)."""
        raise NotImplementedError

    def release_stalls(self) -> None:
        """Answer every stalled and slow request now, and stall none from now on."""
        self._stop_stalls.set()

    def stop(self) -> None:
        self._stop_stalls.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def issued_tokens(self) -> list[str]:
        with self._lock:
            return list(self._oauth_tokens)

    def count_status(self, status: int) -> None:
        with self._lock:
            self.stats.statuses[status] += 1

    def log_exchange(
        self, method: str, target: str, arrived: float, answered: float, status: int
    ) -> None:
        """Log one exchange once its answer is written (or its connection dropped)."""
        exchange = Exchange(method, urlsplit(target).path, arrived, answered, status)
        with self._lock:
            self.stats.log.append(exchange)

    def connection_opened(self) -> None:
        with self._lock:
            self._connections += 1

    def connection_closed(self) -> None:
        with self._lock:
            self._connections -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait until no connection waits to be accepted or is open: after a client is
        killed, the requests it had sent (some not read yet) are answered and logged
        before a test counts them, as a connection closes only once served."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._connections or self._connection_waiting():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self._connections} connections still open")
                self._idle.wait(min(left, 0.05))

    def _connection_waiting(self) -> bool:
        """A connection the server has not accepted yet."""
        assert self._server is not None, "start() the emulator first"
        return bool(select.select([self._server.socket], [], [], 0)[0])

    def _chance(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self._lock:
            return self._rng.random() < rate

    def _choice(self, options: list[int]) -> int:
        with self._lock:
            return self._rng.choice(options)

    def _rng_int(self, low: int, high: int) -> int:
        with self._lock:
            return self._rng.randint(low, high)

    def _wait_latency(self) -> None:
        faults = self.faults
        if faults.latency_seconds:
            spread = faults.latency_spread
            with self._lock:
                factor = self._rng.uniform(1 - spread, 1 + spread)
            time.sleep(faults.latency_seconds * factor)

    def _sorted_objects(self, type_id: str) -> list[int]:
        """The live records of a type in id order (sorted again only after a change)."""
        account = self.account
        with self._lock:
            changes, cached = self._listing.get(type_id, (-1, []))
            if changes != account.changes:
                cached = sorted(account.objects.get(type_id, {}))
                self._listing[type_id] = (account.changes, cached)
        return cached
