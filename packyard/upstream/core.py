"""``UpstreamCore``: the upstream machinery every format shares, built once per server."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from packyard.clock import Clock
from packyard.metadata.catalog import Catalog, DomainGraph
from packyard.model import Repository
from packyard.storage.blobs import BlobStore
from packyard.ttl_cache import TtlCache
from packyard.upstream.client import UpstreamHttp
from packyard.upstream.documents import UpstreamDocuments
from packyard.upstream.format import FormatUpstream
from packyard.upstream.later_digests import LaterDigests
from packyard.upstream.pullthrough import PullThrough
from packyard.upstream.resolver import UpstreamResolver

# A domain's upstream links are read on every listing and file request but change rarely; a
# catalog write drops them (``graph_cache``; not one that only keeps a pulled file), other
# processes' writes when announced (``services/cache_invalidation.py``), and at the latest
# after this many seconds.
_GRAPH_TTL_SECONDS = 2.0


def graph_cache(catalog: Catalog) -> TtlCache[int, DomainGraph]:
    """The domains' upstream graphs, kept until the catalog's next write that can change
    them (not a pulled file kept: ``ChangeLog.structure_stamp``); a page rendered from a graph
    does not outlive it, since every write moves the pages' stamp too (``services/reads.py``)."""
    return TtlCache(ttl_seconds=_GRAPH_TTL_SECONDS, max_entries=1024,
                    version=catalog.changes.structure_stamp)


class KeptFiles:
    """Who hears that a pulled file was kept in a repository (on the event loop, after its
    records are written): what keeps things made from the catalog ahead of reads
    (``services/page_warmer.py``)."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[], None]] = []

    def listen(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def announce(self) -> None:
        for listener in self._listeners:
            listener()


@dataclass(frozen=True)
class UpstreamCore:
    """HTTP to upstreams, one download per file, and where each external connection is; a
    format gets its resolver from ``resolver_for``."""

    catalog: Catalog
    blobs: BlobStore
    http: UpstreamHttp
    pull: PullThrough
    clock: Clock
    # External connection name -> the index URL it reaches (from the formats' declarations).
    connection_urls: Mapping[str, str]
    # External connection name -> the format it serves: a resolver searches only its format's
    # connections (a repository may reach public:pypi and public:npmjs through two upstreams).
    connection_formats: Mapping[str, str]
    # How long a fetched upstream document is used before it is revalidated.
    page_ttl_seconds: float
    # Files up to this size are verified before their first byte is sent.
    verify_before_send_bytes: int
    # Each domain's upstream graph, shared by every format's resolver (``graph_cache``).
    graphs: TtlCache[int, DomainGraph]
    # Fills in the digests pulls leave for later (started by the first kept file lacking one).
    later: LaterDigests
    # Told of every pulled file kept, by every format's resolver.
    kept: KeptFiles = field(default_factory=KeptFiles)

    def stands_alone(self, repository: Repository) -> bool:
        """Whether ``repository`` has no upstreams and no external connection, by its domain's
        graph as cached now (False when it is not: the cautious answer). Its pages then
        change only with the catalog; others' also with what the upstreams serve."""
        found = self.graphs.lookup(repository.domain_id)
        if found is None:
            return False
        graph = found[0]
        return not graph.upstreams.get(repository.id) and repository.id not in graph.external

    def documents_for(self, fmt: FormatUpstream) -> UpstreamDocuments:
        """A cache of ``fmt``'s upstream documents."""
        return UpstreamDocuments(self.catalog, self.http, self.clock, self.page_ttl_seconds, fmt)

    def resolver_for(self, fmt: FormatUpstream) -> UpstreamResolver:
        """The resolver of ``fmt``'s listings and files, with its own document cache."""
        urls = {name: url for name, url in self.connection_urls.items()
                if self.connection_formats.get(name) == fmt.format}
        return UpstreamResolver(fmt, self.catalog, self.blobs, self.documents_for(fmt),
                                self.pull, self.http, urls, self.clock,
                                self.verify_before_send_bytes, self.graphs, self.later,
                                self.kept.announce)
