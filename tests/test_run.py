"""The command line: demo data, users, the TLS certificate."""

from cryptography import x509

import run
from server.db import connect, init_db
from server.demo import ENTERPRISES, POOL, seed
from server.tls import ensure_certificate


def test_demo_district(tmp_path):
    path = tmp_path / "demo.db"
    init_db(path)
    db = connect(path)
    with db.atomic():
        logins = seed(db, "2026-11-26")
    kinds = dict(db.execute("SELECT kind, count(*) FROM places GROUP BY kind").fetchall())
    assert kinds == {"district": 1, "town": 2, "community": 6, "grid": 12}
    per_community = [n for (n,) in db.execute(
        "SELECT count(k.id) FROM places p LEFT JOIN checkpoints k ON k.community_id = p.id "
        "WHERE p.kind = 'community' GROUP BY p.id")]
    assert all(1 <= n <= 2 for n in per_community)
    roles = dict(db.execute("SELECT role, count(*) FROM users GROUP BY role").fetchall())
    assert roles["cadre"] + roles["leader"] == 30 + len(POOL) and roles["committee"] == 6
    assert roles["enterprise"] == len(ENTERPRISES)
    assert db.execute("SELECT count(*) FROM registrations").fetchone()[0] == len(POOL)
    assert db.execute("SELECT count(*) FROM home_units").fetchone()[0] >= 4
    assert db.execute("SELECT count(*) FROM assignments").fetchone()[0] == 30
    assert any(role.startswith("committee") for role, _, _ in logins)
    # A second --demo on the same file adds nothing.
    assert seed(db, "2026-11-26") is None
    assert db.execute("SELECT count(*) FROM users").fetchone()[0] == sum(roles.values())


def test_create_user_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BAODAO_DATA", str(tmp_path))
    init_db(tmp_path / "baodao.db")
    from server.places import create_place

    db = connect(tmp_path / "baodao.db")
    district = create_place(db, "新区", "district")
    create_place(db, "新社区", "community", create_place(db, "新街道", "town", district))
    assert run.main(["create-user", "--phone", "13911112222", "--name", "管理员", "--role",
                     "admin", "--place", "新区", "--password", "long-enough-1"]) == 0
    assert run.main(["create-user", "--phone", "13911113333", "--name", "居委会", "--role",
                     "committee", "--place", "新社区", "--password", "long-enough-1"]) == 0
    # Same phone again, a short password, an unknown place: clear errors, exit 2.
    assert run.main(["create-user", "--phone", "13911112222", "--name", "x", "--role", "cadre",
                     "--password", "long-enough-1"]) == 2
    assert run.main(["create-user", "--phone", "13911114444", "--name", "x", "--role", "cadre",
                     "--password", "short"]) == 2
    assert run.main(["create-user", "--phone", "13911115555", "--name", "x", "--role",
                     "committee", "--place", "无此社区", "--password", "long-enough-1"]) == 2
    assert "error" in capsys.readouterr().err
    assert db.execute("SELECT count(*) FROM users").fetchone()[0] == 2


def test_create_enterprise_contact_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BAODAO_DATA", str(tmp_path))
    init_db(tmp_path / "baodao.db")
    from server.enterprises import create_enterprise
    from server.places import create_place

    db = connect(tmp_path / "baodao.db")
    district = create_place(db, "新区", "district")
    village = create_place(db, "新村", "community", create_place(db, "新镇", "town", district))
    mill = create_enterprise(db, "新面粉厂", village)
    args = ["--password", "long-enough-1", "--role", "enterprise"]
    # An existing enterprise, by name.
    assert run.main(["create-user", "--phone", "13911116666", "--name", "厂长", *args,
                     "--enterprise", "新面粉厂"]) == 0
    # A new one is made in the community given, with its contact.
    assert run.main(["create-user", "--phone", "13911117777", "--name", "经理", *args,
                     "--enterprise", "新纺织厂", "--place", "新村"]) == 0
    assert "enterprise" in capsys.readouterr().out
    # No enterprise, an unknown one without a community, --enterprise for another role, or a
    # contact that cannot be made (phone taken): exit 2, and no enterprise is left behind.
    assert run.main(["create-user", "--phone", "13911118888", "--name", "x", *args]) == 2
    assert run.main(["create-user", "--phone", "13911118888", "--name", "x", *args,
                     "--enterprise", "无此厂"]) == 2
    assert run.main(["create-user", "--phone", "13911118888", "--name", "x", "--role", "cadre",
                     "--password", "long-enough-1", "--enterprise", "新面粉厂"]) == 2
    assert run.main(["create-user", "--phone", "13911116666", "--name", "x", *args,
                     "--enterprise", "另一厂", "--place", "新村"]) == 2
    assert "error" in capsys.readouterr().err
    rows = db.execute("""SELECT u.phone, u.role, e.name, e.community_id FROM users u
                         JOIN enterprises e ON e.id = u.enterprise_id ORDER BY u.phone""").fetchall()
    assert rows == [("13911116666", "enterprise", "新面粉厂", village),
                    ("13911117777", "enterprise", "新纺织厂", village)]
    assert [n for (n,) in db.execute("SELECT name FROM enterprises ORDER BY id")] == [
        "新面粉厂", "新纺织厂"]
    assert mill == db.execute("SELECT enterprise_id FROM users WHERE phone = '13911116666'"
                              ).fetchone()[0]


def test_self_signed_certificate(tmp_path):
    cert_path, key_path = ensure_certificate(tmp_path, hosts=["192.168.8.20", "baodao.lan"])
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert "baodao.lan" in names.get_values_for_type(x509.DNSName)
    assert any(str(ip) == "192.168.8.20" for ip in names.get_values_for_type(x509.IPAddress))
    assert key_path.stat().st_mode & 0o077 == 0
    # Made once: a second call keeps the same certificate (phones accepted it already)...
    first = cert_path.read_bytes()
    assert ensure_certificate(tmp_path, hosts=["baodao.lan"])[0].read_bytes() == first
    # ...unless it lacks a name the server is now asked to serve.
    assert ensure_certificate(tmp_path, hosts=["10.1.2.3"])[0].read_bytes() != first
