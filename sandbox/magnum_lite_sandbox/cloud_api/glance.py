"""Glance v2 images, read only: what magnum-lite's image check and `openstack image list` ask.

Errors are webob's HTTP exceptions, as in Glance itself: HTML by default, JSON
(`{"code", "title", "message"}`) when the client accepts it.
"""

from urllib import parse

import webob
import webob.exc

from magnum_lite_sandbox.cloud_api import base
from magnum_lite_sandbox.cloud_api.store import Store

MAX_LIMIT = 1000  # Glance's api_limit_max
DEFAULT_LIMIT = 25  # Glance's limit_param_default
_SORT_KEYS = ("name", "status", "container_format", "disk_format", "size", "id",
              "created_at", "updated_at")
_VISIBILITIES = ("public", "private", "shared", "community", "all")
_RESERVED = {"limit", "marker", "sort_key", "sort_dir", "visibility"}
# Supported API versions, newest first; the first is CURRENT.
_VERSIONS = ("2.17", "2.16", "2.15", "2.9", "2.7", "2.6", "2.5", "2.4", "2.3", "2.2", "2.1",
             "2.0")


class GlanceApp(base.ServiceApp):
    """Images: list with Glance's filters, sorting and `next` links; show by id."""

    routes = [
        ("GET", r"/", "versions_multiple"),
        ("GET", r"/versions", "versions"),
        ("GET", r"/v2/images", "list_images"),
        ("GET", r"/v2/images/(?P<image_id>[^/]+)", "show_image"),
    ]

    public_paths = frozenset({"/", "/versions"})

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store

    def error_response(self, req: webob.Request, error: base.ApiError) -> webob.Response:
        exc_class = webob.exc.status_map.get(error.status, webob.exc.HTTPInternalServerError)
        return req.get_response(exc_class(explanation=error.message))

    def _versions_doc(self, req: webob.Request) -> dict:
        href = f"{req.host_url}/v2/"
        return {"versions": [
            {"id": f"v{number}", "status": "CURRENT" if i == 0 else "SUPPORTED",
             "links": [{"rel": "self", "href": href}]}
            for i, number in enumerate(_VERSIONS)]}

    def versions_multiple(self, req: webob.Request, who: base.Identity) -> webob.Response:
        # Glance answers its root with 300 Multiple Choices; /versions with 200.
        return base.json_response(self._versions_doc(req), status=300)

    def versions(self, req: webob.Request, who: base.Identity) -> webob.Response:
        return base.json_response(self._versions_doc(req))

    @staticmethod
    def _visible(image: dict, who: base.Identity) -> bool:
        return (who.is_admin or image["owner"] == who.project_id
                or image["visibility"] in ("public", "community"))

    @staticmethod
    def _listed(image: dict, who: base.Identity, visibility: str | None) -> bool:
        """Glance's default listing: public and the project's own images, not community."""
        if visibility not in (None, "all") and image["visibility"] != visibility:
            return False
        if who.is_admin or image["owner"] == who.project_id:
            return True
        if visibility in ("community", "all"):
            return image["visibility"] in ("public", "community")
        return image["visibility"] == "public"

    def list_images(self, req: webob.Request, who: base.Identity) -> webob.Response:
        params = req.GET
        visibility = params.get("visibility")
        if visibility is not None and visibility not in _VISIBILITIES:
            raise base.ApiError(400, f"Invalid visibility value: {visibility}")
        sort_key = params.get("sort_key", "created_at")
        if sort_key not in _SORT_KEYS:
            raise base.ApiError(400, f"Invalid sort key: {sort_key}. It must be one of the "
                                     f"following: {', '.join(_SORT_KEYS)}.")
        sort_dir = params.get("sort_dir", "desc")
        if sort_dir not in ("asc", "desc"):
            raise base.ApiError(400, f"Invalid sort direction: {sort_dir}")
        limit = base.parse_limit(params.get("limit"), MAX_LIMIT, DEFAULT_LIMIT)
        filters = [(k, v) for k, v in params.items() if k not in _RESERVED]
        with self.store.lock:
            images = [dict(image) for image in self.store.images.values()
                      if self._listed(image, who, visibility)
                      and all(k in image and base.as_filter_text(image[k]) == v
                              for k, v in filters)]
        # None sorts as the smallest value; a key's non-None values share one type.
        images.sort(key=lambda i: (i[sort_key] is not None,
                                   0 if i[sort_key] is None else i[sort_key], i["id"]),
                    reverse=sort_dir == "desc")
        try:
            chunk, full = base.page(images, params.get("marker"), limit)
        except base.ApiError as e:
            raise base.ApiError(400, "Invalid marker. Image could not be found.") from e
        kept = [(k, v) for k, v in params.items() if k != "marker"]
        body: dict = {"images": chunk, "schema": "/v2/schemas/images",
                      "first": "/v2/images" + (f"?{parse.urlencode(kept)}" if kept else "")}
        if full:
            body["next"] = "/v2/images?" + parse.urlencode(kept + [("marker", chunk[-1]["id"])])
        return base.json_response(body)

    def show_image(self, req: webob.Request, who: base.Identity,
                   image_id: str) -> webob.Response:
        with self.store.lock:
            image = self.store.images.get(image_id)
            if image is None or not self._visible(image, who):
                raise base.ApiError(404, f"No image found with ID {image_id}")
            return base.json_response(dict(image))
