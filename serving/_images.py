"""The two images docker/build_and_push.sh pushes, and which one a command uses.

``REPO:serve`` is the lean serving image (endpoints, Batch Transform) and
``REPO:full`` the one that also trains; a URI without a tag gets the tag of
the image its command needs.
"""

from __future__ import annotations

from ._errors import ServingError

__all__ = ["SERVE_TAG", "FULL_TAG", "image_for"]

#: Tags docker/build_and_push.sh gives the two images (IMAGE_TAG=X makes them X-serve, X-full).
SERVE_TAG, FULL_TAG = "serve", "full"


def _tag(uri: str) -> str | None:
    """The tag of an image URI (``REPO:TAG``), or None (no tag, or pinned by digest)."""
    if "@" in uri:
        return None
    last = uri.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def image_for(uri: str, use: str) -> str:
    """The image URI for ``use``: ``serve`` (endpoints, Batch Transform) or ``full`` (training jobs).

    A URI without a tag (``ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME``) gets
    the tag of that image as docker/build_and_push.sh pushes it: ``NAME:serve``,
    the lean serving image, or ``NAME:full``, the image that trains. A tagged
    URI is used as given, except that a training job refuses the serve image
    (it cannot train: no scikit-learn); an endpoint on the full image works
    (it serves any model), with a note that the serve image starts faster.
    """
    if "@" not in uri and _tag(uri) is None:
        chosen = f"{uri}:{use}"
        what = "the lean serving image" if use == SERVE_TAG else "the full image, which trains"
        print(f"--image-uri has no tag: using {chosen} ({what})", flush=True)
        return chosen
    tag = _tag(uri) or ""
    if use == FULL_TAG and (tag == SERVE_TAG or tag.endswith(f"-{SERVE_TAG}")):
        base = uri.rsplit(":", 1)[0]
        raise ServingError(
            f"--image-uri {uri} is the lean serving image, which cannot train (it has no scikit-learn, MLflow or dwave): "
            f"give the full image, {base}:{tag[: -len(SERVE_TAG)]}{FULL_TAG} (or the repository without a tag)"
        )
    if use == SERVE_TAG and (tag == FULL_TAG or tag.endswith(f"-{FULL_TAG}")):
        print(f"note: {uri} is the full image; it serves any model, but the lean `{SERVE_TAG}` image is a third of its size "
              "and answers /ping within a second of starting (for a model that compiles)", flush=True)
    return uri
