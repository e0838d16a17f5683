"""rbd's object specifications: ``[<pool>/[<namespace>/]]<name>``, and image lookups.

Mirrors src/tools/rbd/Utils.cc (``get_pool_image_snapshot_names``,
``get_pool_journal_names``): options ``--pool``/``--namespace``/``--image``/
``--journal`` are read first, a ``--journal`` or ``--image`` value is itself parsed
as a spec, the positional spec is used only when no name was given, and an empty
pool means the default pool ``rbd``.  Images are resolved through
``rbd_directory`` (``name_<name>`` -> id) or the ``rbd_id.<name>`` object.
"""

from __future__ import annotations

import re

from .errors import NotFoundError, SpecError
from .records import FrozenRecord
from .store.base import Pool, Store

DEFAULT_POOL = "rbd"
RBD_DIRECTORY = "rbd_directory"
RBD_ID_PREFIX = "rbd_id."
RBD_HEADER_PREFIX = "rbd_header."

# rbd's two spec patterns (Utils.cc extract_spec), [pool/[namespace/]]name[@snap]: the full one allows no
# '/' or '@' in any part; the relaxed one (commands that open an existing image: status, mirror image,
# feature, journal --image) takes the pool before the first '/', the namespace before the second, the
# snapshot after the first '@' and the rest, slashes included, as the name
_FULL_SPEC = re.compile(r"(?:([^/@]+)/(?:([^/@]+)/)?)?([^/@]+)(?:@([^/@]+))?")
_RELAXED_SPEC = re.compile(r"(?:([^/]+)/(?:([^/@]+)/)?)?([^@]+)(?:@(.+))?")
NO_SNAPSHOT = "snapshot name specified for a command that doesn't use it"


class Spec(FrozenRecord):
    """A parsed ``[<pool>/[<namespace>/]]<name>``."""

    __slots__ = ("name", "namespace", "pool")
    _fields = ("pool", "namespace", "name")
    pool: str
    namespace: str
    name: str

    def __init__(self, pool: str, namespace: str, name: str) -> None:
        object.__setattr__(self, "pool", pool)
        object.__setattr__(self, "namespace", namespace)
        object.__setattr__(self, "name", name)

    def __str__(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{self.pool}/{ns}{self.name}"


def split_spec(text: str, *, relaxed: bool = False) -> tuple[str | None, str | None, str, str | None]:
    """(pool, namespace, name, snapshot) of a spec, None for a part not given; no match is "invalid spec"."""
    match = (_RELAXED_SPEC if relaxed else _FULL_SPEC).fullmatch(text or "")
    if not match:
        raise SpecError(f"invalid spec '{text}'")
    pool, namespace, name, snap = match.groups()
    return pool, namespace, name, snap


def parse_spec(text: str, *, default_pool: str = DEFAULT_POOL, relaxed: bool = False) -> Spec:
    """Parse ``[<pool>/[<namespace>/]]<name>``; an invalid spec or a snapshot part raises :class:`SpecError`."""
    pool, namespace, name, snap = split_spec(text, relaxed=relaxed)
    if snap is not None:
        raise SpecError(NO_SNAPSHOT)
    return Spec(pool or default_pool, namespace or "", name)


def combine_spec(
    positional: str | None,
    *,
    pool: str | None = None,
    namespace: str | None = None,
    name: str | None = None,
    what: str = "image",
    relaxed: bool = False,
) -> Spec:
    """Combine a positional spec with ``--pool``/``--namespace``/``--<what>`` as rbd does.

    A name option is itself a spec, and the positional spec is read only when no
    name option was given; a pool or namespace written in the spec replaces the
    option's (rbd 16.2: ``--pool other rbd/img`` is ``rbd/img``).
    """
    text = name or positional
    if not text:
        raise SpecError(f"{what} was not specified")
    spec_pool, spec_namespace, spec_name, snap = split_spec(text, relaxed=relaxed)
    if snap is not None:
        raise SpecError(NO_SNAPSHOT)
    resolved_namespace = spec_namespace if spec_namespace is not None else (namespace or "")
    if "/" in resolved_namespace or "@" in resolved_namespace:
        raise SpecError(f"invalid namespace name '{resolved_namespace}'")
    return Spec(spec_pool or pool or DEFAULT_POOL, resolved_namespace, spec_name)


def _directory_value(pool: Pool, key: str) -> bytes | None:
    """A value of the pool's ``rbd_directory`` omap (None when the key or the object is absent)."""
    try:
        return pool.omap_get(RBD_DIRECTORY, [key]).get(key)
    except NotFoundError:
        return None


def image_id(pool: Pool, image_name: str) -> str:
    """The id of v2 image ``image_name`` (``rbd_directory`` first, then ``rbd_id.<name>``)."""
    raw = _directory_value(pool, f"name_{image_name}")
    if raw is None:
        try:
            raw = pool.read(RBD_ID_PREFIX + image_name)
        except NotFoundError:
            raise NotFoundError(f"image {image_name} does not exist in pool {pool.describe()}") from None
    return _string(raw, f"id of image {image_name}")


def _string(raw: bytes, what: str) -> str:
    """``raw`` as one ``std::string`` (the fast path; construct only for the exact error)."""
    from .format.header_fastpath import fast_string

    fast = fast_string(raw)
    if fast is not None:
        return fast
    from .format.primitives import CephString, decode

    return str(decode(CephString(), raw, type_name=what))


def image_name(pool: Pool, image_id: str) -> str:
    """The name of the image with id ``image_id`` (``rbd_directory`` ``id_<id>``)."""
    raw = _directory_value(pool, f"id_{image_id}")
    if raw is None:
        raise NotFoundError(f"no image with id {image_id} in pool {pool.describe()}")
    return _string(raw, f"name of image {image_id}")


def open_pool(store: Store, spec: Spec) -> Pool:
    return store.pool(spec.pool, spec.namespace)
