"""A demo district a newcomer can click through at once (python run.py --demo)."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta

import sqlite_utils

from . import cadres, enterprises, places, screening
from .auth import create_user
from .idcard import check_char
from .timeutil import now_utc, utc_text

# Published in README; weaker than the password rule, so the demo world skips it
# (create_user check_password=False): a demo database holds no real accounts.
DEMO_PASSWORD = "demo1234"

TOWNS = {
    "东城街道": {"和平社区": ["南门卡口", "北门卡口"], "光明社区": ["东门卡口"],
              "幸福社区": ["正门卡口"]},
    "西山镇": {"柳树村": ["村口卡口"], "杨庄村": ["村东卡口", "村西卡口"], "石桥村": ["桥头卡口"]},
}
HOME_UNITS = [("区粮食和物资储备局", "粮食调运"), ("区教育局", "数据统计"), ("区卫生健康委", "医疗防护"),
              ("区税务局", "企业服务"), ("区财政局", "财务"), ("区城管局", "交通疏导")]
# Mobilisation: which departments handle which enterprise problems (the admin edits this),
# enterprises with a contact account each, and party members registered with their community
# (双报到) but not yet assigned: the pool a call-up draws on.
CATEGORY_DEPARTMENTS = {
    "materials": ["区粮食和物资储备局"], "finance": ["区财政局", "区税务局"],
    "supplies": ["区卫生健康委"], "logistics": ["区交通运输局"], "labour": ["区人力资源和社会保障局"],
    "permits": ["区市场监管局"],
}
ENTERPRISES = [  # name, community, industry, contact phone, contact name
    ("金穗面粉厂", "柳树村", "粮食加工", "13700000001", "面粉厂 李厂长"),
    ("顺达物流公司", "和平社区", "物流运输", "13700000002", "物流公司 王经理"),
    ("康宁防护用品厂", "杨庄村", "医疗物资", "13700000003", "防护用品厂 陈经理"),
]
POOL = [  # phone, name, home unit, specialty, registered community
    ("13800000101", "孙立平", "区粮食和物资储备局", "粮食调运、仓储管理", "柳树村"),
    ("13800000102", "钱志远", "区交通运输局", "物流调度", "和平社区"),
    ("13800000103", "郑红梅", "区卫生健康委", "医疗防护", "光明社区"),
    ("13800000104", "冯建军", "区税务局", "企业服务", "杨庄村"),
    ("13800000105", "褚晓燕", "区教育局", "数据统计", "幸福社区"),
]
UNIT_PAIRS = [  # home unit, paired community, contact, phone, members, services (单位双报到)
    ("区教育局", "幸福社区", "教育局 党办 何老师", "13500000001", 12, "学生居家学习辅导、数据统计"),
    ("区卫生健康委", "光明社区", "卫健委 党办 吕主任", "13500000002", 8, "健康咨询、防护培训"),
]
SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹"
GIVEN = ["建国", "晓明", "丽华", "志强", "秀英", "海涛", "文静", "国栋", "春燕", "伟"]


def seed(db: sqlite_utils.Database, day: str) -> list[tuple[str, str, str]] | None:
    """Fill an empty database with the demo district; return the logins (role, phone, name).

    Does nothing and returns None when the database already has places.
    """
    if db.execute("SELECT count(*) FROM places").fetchone()[0]:
        return None
    logins = []
    district = places.create_place(db, "示范区", "district")
    logins.append(("admin 区组织部", "13900000001",
                   _user(db, "13900000001", "区组织部 管理员", "admin", district)))
    cadre_number = 0
    committee_number = 0
    for town_index, (town_name, communities) in enumerate(TOWNS.items()):
        town = places.create_place(db, town_name, "town", district)
        phone = f"1390000000{town_index + 2}"
        logins.append((f"admin {town_name}", phone, _user(db, phone, f"{town_name} 管理员",
                                                            "admin", town)))
        for community_name, checkpoints in communities.items():
            community = places.create_place(db, community_name, "community", town)
            grids = [places.create_place(db, grid, "grid", community)
                     for grid in ("第一网格", "第二网格")]
            for checkpoint in checkpoints:
                places.create_checkpoint(db, community, checkpoint)
            committee_number += 1
            phone = f"139000001{committee_number:02d}"
            logins.append((f"committee {community_name}", phone,
                           _user(db, phone, community_name + ("村委会" if community_name.endswith("村")
                                                                else "居委会"),
                                 "committee", community)))
            team = cadres.create_team(db, community, f"{community_name}下沉工作队",
                                      party_branch=True)
            for member in range(5):
                cadre_number += 1
                unit, specialty = HOME_UNITS[cadre_number % len(HOME_UNITS)]
                phone = f"138000000{cadre_number:02d}"
                name = SURNAMES[cadre_number % len(SURNAMES)] + GIVEN[cadre_number % len(GIVEN)]
                role = "leader" if member == 0 else "cadre"
                user_id = create_user(db, phone, name, DEMO_PASSWORD, role, home_unit=unit,
                                      specialty=specialty, party_member=member % 2 == 0,
                                      check_password=False)
                cadres.assign(db, user_id, community, day, team_id=team,
                              role_in_team="leader" if member == 0 else "member")
                if member == 0:
                    db.execute("UPDATE teams SET leader_id = ? WHERE id = ?", [user_id, team])
                if member < 2:
                    logins.append((f"{role} {community_name}", phone, name))
                if member > 0:  # two cadres per grid
                    screening.assign_grid(db, grids[(member - 1) // 2], user_id)
            _households(db, community, community_name, grids, day, cadre_number)
    logins += _mobilisation(db)
    return logins


def _mobilisation(db) -> list[tuple[str, str, str]]:
    """Enterprises and their contacts, the department table, the registered pool."""
    logins = []
    for category, names in CATEGORY_DEPARTMENTS.items():
        enterprises.set_category_departments(db, category, names)
    for name, community_name, industry, phone, contact in ENTERPRISES:
        community = places.find_place(db, community_name, "community")
        enterprise_id = enterprises.create_enterprise(db, name, community["id"], industry)
        create_user(db, phone, contact, DEMO_PASSWORD, "enterprise", enterprise_id=enterprise_id,
                    check_password=False)
        logins.append((f"enterprise {name}", phone, contact))
    stamp = utc_text(now_utc())
    for phone, name, unit, specialty, community_name in POOL:
        user_id = create_user(db, phone, name, DEMO_PASSWORD, "cadre", home_unit=unit,
                              specialty=specialty, party_member=True, check_password=False)
        community = places.find_place(db, community_name, "community")
        db.execute("""INSERT INTO registrations (user_id, community_id, kind, created_at)
                      VALUES (?, ?, 'residence', ?)""", [user_id, community["id"], stamp])
    logins.append(("cadre (registered pool) 区粮食和物资储备局", POOL[0][0], POOL[0][1]))
    for unit, community_name, contact, phone, members, services in UNIT_PAIRS:
        db.execute("""INSERT INTO unit_registrations (home_unit_id, community_id, contact_name,
                          contact_phone, members, services, created_at) VALUES (?,?,?,?,?,?,?)""",
                   [places.home_unit_id(db, unit),
                    places.find_place(db, community_name, "community")["id"],
                    contact, phone, members, services, stamp])
    return logins


STREETS = ["和平", "光明", "幸福", "柳树", "杨庄", "石桥"]
FAMILY = [("male", 1968, "退休职工"), ("female", 1971, "教师"), ("male", 1996, "快递员")]


def _id_number(region: str, born: str, serial: int, sex: str) -> str:
    """A made-up ID number with a valid GB 11643 checksum (odd 17th digit: male)."""
    first17 = f"{region}{born.replace('-', '')}{serial % 50 * 2 + (sex == 'male'):03d}"
    return first17 + check_char(first17)


def _households(db, community: int, name: str, grids: list[int], day: str, seed_no: int) -> None:
    """Three households per grid, an open screening round, and one resident in isolation
    in the first community."""
    stamp = utc_text(now_utc())
    db.execute("""INSERT INTO screening_rounds (community_id, name, starts_on, ends_on, created_at)
                  VALUES (?, '第一轮排查', ?, ?, ?)""",
               [community, day, (date.fromisoformat(day) + timedelta(days=13)).isoformat(), stamp])
    serial = seed_no * 10
    for grid_index, grid in enumerate(grids):
        for number in range(3):
            serial += 1
            surname = SURNAMES[serial % len(SURNAMES)]
            household = str(uuid.uuid4())
            building, door = str(grid_index * 2 + 1), f"{number + 1}0{number + 1}"
            db.execute("""INSERT INTO households (id, community_id, grid_id, building, unit, door,
                              head_name, phone, residents_count, is_rental, landlord, tenants,
                              created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
                       [household, community, grid, building, "1", door,
                        surname + GIVEN[serial % len(GIVEN)], f"1370{serial:07d}", 3,
                        int(number == 2), "张房东" if number == 2 else "",
                        "租户2人，来自孝感" if number == 2 else "", stamp, stamp])
            for index, (sex, year, job) in enumerate(FAMILY[: 2 + number % 2]):
                born = f"{year}-0{index + 3}-1{number}"
                resident = str(uuid.uuid4())
                db.execute("""INSERT INTO residents (id, household_id, name, sex, birth_date,
                                  birth_year, id_type, id_number, phone, hukou_place, came_from,
                                  occupation, elderly_alone, chronic, created_at, updated_at)
                              VALUES (?,?,?,?,?,?,'id_card',?,?,?,?,?,0,?,?,?)""",
                           [resident, household, surname + GIVEN[(serial + index) % len(GIVEN)],
                            sex, born, year, _id_number("420102", born, serial + index, sex),
                            f"1360{serial:05d}{index:02d}", "湖北省武汉市",
                            "武汉" if number == 1 else "本地", job, int(index == 0), stamp,
                            stamp])
                if seed_no == 5 and grid_index == 0 and number == 1 and index == 2:
                    _demo_case(db, resident, household, community, day, stamp)


def _demo_case(db, resident: str, household: str, community: int, day: str, stamp: str) -> None:
    """A resident back from a risk area, in home isolation under the 9th edition preset."""
    policy = db.execute("SELECT id, name, edition, version, rules FROM isolation_policies "
                        "WHERE place_id IS NULL AND name LIKE '第九版 密接的密接%'").fetchone()
    rules = json.loads(policy[4])
    start = date.fromisoformat(day) - timedelta(days=1)
    end = start + timedelta(days=sum(p["days"] for p in rules["phases"]) - 1)
    creator = db.execute("SELECT user_id FROM grid_assignments g JOIN households h "
                         "ON h.grid_id = g.grid_id WHERE h.id = ? LIMIT 1", [household]).fetchone()[0]
    case_id = str(uuid.uuid4())
    snapshot = {"name": policy[1], "edition": policy[2], "version": policy[3], **rules}
    db.execute("""INSERT INTO isolation_cases (id, resident_id, household_id, community_id, reason,
                      kind, starts_on, planned_end, policy_id, policy_snapshot, created_by,
                      recorded_at, received_at, updated_at, payload_hash)
                  VALUES (?,?,?,?,'risk_area_arrival','home_isolation',?,?,?,?,?,?,?,?,'demo')""",
               [case_id, resident, household, community, start.isoformat(), end.isoformat(),
                policy[0], json.dumps(snapshot, ensure_ascii=False), creator, stamp, stamp, stamp])
    db.execute("INSERT INTO isolation_case_cadres (case_id, user_id) VALUES (?, ?)",
               [case_id, creator])


def _user(db, phone: str, name: str, role: str, place_id: int) -> str:
    create_user(db, phone, name, DEMO_PASSWORD, role, place_id=place_id, check_password=False)
    return name
