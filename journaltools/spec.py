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
from dataclasses import dataclass

from .errors import NotFoundError, SpecError
from .store.base import Pool, Store

DEFAULT_POOL = "rbd"
RBD_DIRECTORY = "rbd_directory"
RBD_ID_PREFIX = "rbd_id."
RBD_HEADER_PREFIX = "rbd_header."

# rbd's SPEC regex without the snapshot part: [pool/[namespace/]]name
_SPEC = re.compile(r"^(?:([^/@]+)/(?:([^/@]+)/)?)?([^/@]+)$")


@dataclass(frozen=True)
class Spec:
    """A parsed ``[<pool>/[<namespace>/]]<name>``."""

    pool: str
    namespace: str
    name: str

    def __str__(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{self.pool}/{ns}{self.name}"


def parse_spec(text: str, *, default_pool: str = DEFAULT_POOL) -> Spec:
    """Parse ``[<pool>/[<namespace>/]]<name>``; an invalid spec raises :class:`SpecError`."""
    match = _SPEC.match(text or "")
    if not match:
        raise SpecError(f"invalid spec '{text}'")
    pool, namespace, name = match.groups()
    return Spec(pool or default_pool, namespace or "", name)


def combine_spec(
    positional: str | None,
    *,
    pool: str | None = None,
    namespace: str | None = None,
    name: str | None = None,
    what: str = "image",
) -> Spec:
    """Combine a positional spec with ``--pool``/``--namespace``/``--<what>`` as rbd does.

    An option value for the name may itself be a full spec; explicit ``--pool`` and
    ``--namespace`` win over the pool and namespace inside it.
    """
    spec: Spec | None = None
    if name:
        spec = parse_spec(name)
        if "/" not in name:
            spec = Spec(pool or DEFAULT_POOL, namespace or "", spec.name)
    elif positional:
        spec = parse_spec(positional)
        if "/" not in positional:
            spec = Spec(pool or DEFAULT_POOL, namespace or "", spec.name)
    if spec is None:
        raise SpecError(f"{what} was not specified")
    if pool and "/" in (name or positional or ""):
        spec = Spec(pool, namespace if namespace is not None else spec.namespace, spec.name)
    elif namespace:
        spec = Spec(spec.pool, namespace, spec.name)
    return spec


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
