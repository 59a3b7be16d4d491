import pytest

from server.cadres import assign
from server.cadres import import_cadres as import_table
from server.tables import decode_csv, read_table

GOOD_AND_BAD = """姓名,手机号,工作单位,专业特长,党员,下沉社区
赵一,13700000001,区粮食局,粮食调运,是,甲社区
,13700000002,区教育局,,否,甲社区
钱二,1370000,区教育局,,否,甲社区
孙三,13700000004,区卫健委,医疗,否,不存在社区
李四,13700000005,区财政局,,也许,乙社区
周五,13700000001,区财政局,,否,乙社区
吴六,13700000007,区税务局,企业服务,否,一号街道/乙社区
"""


def import_cadres(db, text: str, *args, **kwargs):
    """The import as the CLI runs it: the CSV text through tables.read_table."""
    return import_table(db, read_table("cadres.csv", text.encode("utf-8")), *args, **kwargs)


def counts(db):
    return (db.execute("SELECT count(*) FROM users").fetchone()[0],
            db.execute("SELECT count(*) FROM assignments").fetchone()[0],
            db.execute("SELECT count(*) FROM home_units").fetchone()[0])


def test_import_reports_bad_rows_by_line(app, db):
    with app.app_context():
        report = import_cadres(db, GOOD_AND_BAD, "2026-11-26", initial_password="initial-pw1")
    assert [line for line, _, _ in report.created] == [2, 8]
    errors = dict(report.errors)
    assert set(errors) == {3, 4, 5, 6, 7}
    assert "姓名" in errors[3]
    assert "手机号" in errors[4]
    assert "找不到社区" in errors[5]
    assert "党员" in errors[6]
    assert "第2行" in errors[7]
    row = db.execute("""SELECT u.name, u.party_member, u.specialty, h.name, p.name
                        FROM users u JOIN assignments a ON a.user_id = u.id
                        JOIN places p ON p.id = a.community_id
                        JOIN home_units h ON h.id = u.home_unit_id
                        WHERE u.phone = '13700000001'""").fetchone()
    assert row == ("赵一", 1, "粮食调运", "区粮食局", "甲社区")


def test_reimport_changes_nothing(app, db):
    with app.app_context():
        import_cadres(db, GOOD_AND_BAD, "2026-11-26")
        before = counts(db)
        hashes = db.execute("SELECT password_hash FROM users ORDER BY id").fetchall()
        report = import_cadres(db, GOOD_AND_BAD, "2026-11-27")
    assert report.created == [] and report.assigned == []
    assert report.unchanged == [2, 8]
    assert counts(db) == before
    assert db.execute("SELECT password_hash FROM users ORDER BY id").fetchall() == hashes


def test_existing_cadre_moved_to_another_community_gets_an_assignment(app, db):
    with app.app_context():
        import_cadres(db, "name,phone,community\n赵一,13700000001,甲社区\n", "2026-11-26")
        report = import_cadres(db, "name,phone,community\n赵一,13700000001,乙社区\n",
                               "2026-11-26")
    assert report.assigned == [2]


def test_phone_of_another_person_is_an_error(app, db):
    with app.app_context():
        report = import_cadres(db, "name,phone,community\n别人,13800000001,甲社区\n",
                               "2026-11-26")
    assert report.errors and report.errors[0][0] == 2
    assert db.execute("SELECT name FROM users WHERE phone = '13800000001'").fetchone()[0] == "王建国"


def test_missing_columns_and_empty_file(app, db):
    with app.app_context():
        assert import_cadres(db, "", "2026-11-26").errors[0][0] == 1
        report = import_cadres(db, "姓名,单位\n赵一,x\n", "2026-11-26")
    assert "phone" in report.errors[0][1] and "community" in report.errors[0][1]


def test_excel_encodings():
    text = "姓名,手机号\n赵一,13700000001\n"
    assert decode_csv(("\ufeff" + text).encode("utf-8")) == text
    assert decode_csv(text.encode("gbk")) == text


def test_assignment_rules(db, world):
    with pytest.raises(ValueError):
        assign(db, world["cadre_A"], world["town1"], "2026-11-26")
    with pytest.raises(ValueError):
        assign(db, world["cadre_A"], world["A"], "2026-11-26", ends_on="2026-11-01")


def test_import_cli(app, tmp_path, monkeypatch, capsys):
    import run

    monkeypatch.setenv("BAODAO_DATA", app.config["DATA_DIR"])
    monkeypatch.setenv("BAODAO_SECRET_KEY", "cli-test-secret")
    csv_file = tmp_path / "cadres.csv"
    csv_file.write_bytes(GOOD_AND_BAD.encode("gbk"))
    assert run.main(["import-cadres", str(csv_file)]) == 1  # bad rows: non-zero exit
    out = capsys.readouterr().out
    assert "line 2: created 13700000001 initial password" in out
    assert "line 5: ERROR" in out
    assert "created 2, assigned 0, unchanged 0, errors 5" in out
    run.main(["import-cadres", str(csv_file)])
    assert "created 0, assigned 0, unchanged 2, errors 5" in capsys.readouterr().out
