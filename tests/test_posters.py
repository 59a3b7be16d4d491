from itsdangerous import URLSafeSerializer


def posters_of(api, place_id):
    return api.get(f"/api/places/{place_id}/posters")


def test_committee_gets_posters_of_own_community(as_user, world):
    response = posters_of(as_user("committee_A"), world["A"])
    assert response.status_code == 200
    posters = response.json["posters"]
    assert [p["kind"] for p in posters] == ["community", "checkpoint", "checkpoint"]
    assert posters[1]["name"] == "甲社区 · 南门卡口"
    assert all(p["url"].endswith("/c/" + p["token"]) for p in posters)
    assert all(len(p["manual_code"]) == 8 and p["manual_code"].isdigit() for p in posters)
    # Asking again gives the same live posters, not new ones.
    again = posters_of(as_user("committee_A"), world["A"]).json["posters"]
    assert [p["id"] for p in again] == [p["id"] for p in posters]


def test_poster_access_is_scoped(as_user, world):
    assert posters_of(as_user("committee_B"), world["A"]).status_code == 403
    assert posters_of(as_user("cadre_A"), world["A"]).status_code == 403
    assert posters_of(as_user("town2_admin"), world["A"]).status_code == 403
    assert posters_of(as_user("admin"), world["A"]).status_code == 200
    assert posters_of(as_user("admin"), 9999).status_code == 404


def test_poster_images_and_print_page(as_user, world):
    api = as_user("committee_A")
    poster = posters_of(api, world["A"]).json["posters"][0]
    svg = api.get(poster["svg_url"])
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    assert b"<svg" in svg.data
    png = api.get(poster["png_url"])
    assert png.mimetype == "image/png" and png.data.startswith(b"\x89PNG")
    page = api.get(poster["print_url"]).get_data(as_text=True)
    code = poster["manual_code"]
    assert "甲社区" in page and f"{code[:4]} {code[4:]}" in page and "<svg" in page
    assert as_user("committee_B").get(poster["png_url"]).status_code == 403


def test_poster_url_uses_public_url(app, as_user, world):
    app.config["PUBLIC_URL"] = "https://baodao.example.cn"
    poster = posters_of(as_user("committee_A"), world["A"]).json["posters"][0]
    assert poster["url"].startswith("https://baodao.example.cn/c/")


def test_reissue_revokes_old_poster(as_user, world, anon):
    api = as_user("committee_A")
    old = posters_of(api, world["A"]).json["posters"][0]
    response = api.post(f"/api/posters/{old['id']}/reissue")
    assert response.status_code == 200
    new = response.json["poster"]
    assert new["token"] != old["token"]
    page = anon.get(f"/c/{old['token']}")
    assert page.status_code == 410
    assert "此海报已作废" in page.get_data(as_text=True)
    assert anon.get(f"/c/{new['token']}").status_code == 200
    cadre = as_user("cadre_A")
    gone = cadre.get("/api/posters/resolve", query_string={"token": old["token"]})
    assert gone.status_code == 410 and gone.json["error"]["code"] == "poster_revoked"
    old_code = cadre.get("/api/posters/resolve", query_string={"code": old["manual_code"]})
    assert old_code.status_code == 404
    assert as_user("committee_B").post(f"/api/posters/{new['id']}/reissue").status_code == 403


def test_forged_and_unknown_tokens_get_a_clear_page(app, anon, poster_token):
    forged = anon.get("/c/" + poster_token("A")[:-2] + "xx")
    assert forged.status_code == 404
    assert "不是本系统签发" in forged.get_data(as_text=True)
    assert "Traceback" not in forged.get_data(as_text=True)
    # Signed with another server's secret: forged too.
    other = URLSafeSerializer("another-secret", salt="baodao-poster").dumps("abc")
    assert anon.get(f"/c/{other}").status_code == 404
    # Correctly signed but no such poster (e.g. a database restored from before it).
    unknown = URLSafeSerializer(app.config["SECRET_KEY"], salt="baodao-poster").dumps("nope")
    page = anon.get(f"/c/{unknown}")
    assert page.status_code == 404 and "找不到此海报" in page.get_data(as_text=True)
    assert anon.get("/c/%00%ff").status_code == 404


def test_poster_page_serves_the_app_without_login(anon, poster_token):
    page = anon.get("/c/" + poster_token("A"))
    assert page.status_code == 200
    assert b'src="/app.js"' in page.data


def test_manual_code_resolves(as_user, world):
    poster = posters_of(as_user("committee_A"), world["A"]).json["posters"][1]
    api = as_user("cadre_A")
    code = poster["manual_code"]
    response = api.get("/api/posters/resolve", query_string={"code": f"{code[:4]}-{code[4:]}"})
    assert response.status_code == 200
    assert response.json["poster"]["token"] == poster["token"]
    assert response.json["poster"]["checkpoint"]["name"] == "南门卡口"
    assert response.json["assigned"] is True


def test_manual_code_guessing_is_slowed(app, as_user):
    app.config["CODE_MAX_PER_ADDRESS"] = 3
    api = as_user("cadre_A")
    statuses = [api.get("/api/posters/resolve", query_string={"code": f"0000000{i}"}).status_code
                for i in range(5)]
    assert statuses == [404, 404, 404, 429, 429]


def test_resolve_needs_login(anon, poster_token):
    response = anon.get("/api/posters/resolve", query_string={"token": poster_token("A")})
    assert response.status_code == 401
    assert response.json["error"]["code"] == "login_required"
