"""The controller base: one-pass routing, item sub-resources, and JSON endpoints."""

import pecan
import webtest

from magnum_lite.api.controllers import base
from magnum_lite.common import exception


class Parts(base.RestController):
    @base.expose()
    def get_all(self, owner):
        return {"owner": owner, "parts": []}

    @base.expose()
    def get_one(self, owner, part):
        if part == "missing":
            raise exception.NotFound()
        return {"owner": owner, "part": part}


class Things(base.RestController):
    _custom_actions = {"detail": ["GET"]}
    _item_children = frozenset({"parts"})

    parts = Parts()

    @base.expose()
    def get_all(self):
        return {"things": []}

    @base.expose()
    def detail(self):
        return {"things": [], "detail": True}

    @base.expose()
    def get_one(self, ident):
        return {"thing": ident}

    @base.expose(status=201)
    def post(self):
        return {"created": True}

    @base.expose(status=204)
    def delete(self, ident):
        return None


class Root(base.RestController):
    things = Things()


def _app():
    return webtest.TestApp(pecan.make_app(Root(), guess_content_type_from_ext=False))


def test_collection_item_and_action_routes():
    app = _app()
    assert app.get("/things").json == {"things": []}
    assert app.get("/things/").json == {"things": []}
    assert app.get("/things/detail").json["detail"] is True
    assert app.get("/things/t.1").json == {"thing": "t.1"}
    assert app.get("/things/t.1/").json == {"thing": "t.1"}
    assert app.post_json("/things", {}, status=201).json == {"created": True}
    assert app.delete("/things/x", status=204).body == b""


def test_item_children_get_the_item_id_first():
    app = _app()
    assert app.get("/things/t1/parts").json == {"owner": "t1", "parts": []}
    assert app.get("/things/t1/parts/p2").json == {"owner": "t1", "part": "p2"}
    assert app.get("/things/t1/parts/missing", status=404).json["errors"][0]["status"] == 404
    # "parts" is not a collection-level sub-resource.
    assert app.get("/things/parts").json == {"thing": "parts"}


def test_methods_a_resource_lacks_are_405_with_allow():
    app = _app()
    response = app.patch_json("/things/x", [], status=405)
    assert set(response.headers["Allow"].split(", ")) == {"GET", "DELETE"}
    assert app.delete("/things", status=405).headers["Allow"] == "GET, POST"
    assert app.put_json("/things/x", {}, status=405)
    app.post_json("/things/x", {}, status=405)
    app.request("/things", method="OPTIONS", status=405)


def test_extra_path_segments_are_404():
    app = _app()
    app.get("/things/a/b", status=404)
    app.get("/things/detail/x", status=404)
    app.get("/nothing", status=404)


def test_query_and_body_parameters_never_become_arguments():
    app = _app()
    assert app.get("/things/a?ident=b&self=c").json == {"thing": "a"}
    assert app.post_json("/things", {"ident": "x", "self": 1}, status=201).json == {
        "created": True}
