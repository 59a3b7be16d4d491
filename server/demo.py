"""A demo district a newcomer can click through at once (python run.py --demo)."""

from __future__ import annotations

import sqlite_utils

from . import cadres, places
from .auth import create_user

DEMO_PASSWORD = "demo1234"

TOWNS = {
    "东城街道": {"和平社区": ["南门卡口", "北门卡口"], "光明社区": ["东门卡口"],
              "幸福社区": ["正门卡口"]},
    "西山镇": {"柳树村": ["村口卡口"], "杨庄村": ["村东卡口", "村西卡口"], "石桥村": ["桥头卡口"]},
}
HOME_UNITS = [("区粮食和物资储备局", "粮食调运"), ("区教育局", "数据统计"), ("区卫生健康委", "医疗防护"),
              ("区税务局", "企业服务"), ("区财政局", "财务"), ("区城管局", "交通疏导")]
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
            for grid in ("第一网格", "第二网格"):
                places.create_place(db, grid, "grid", community)
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
                                      specialty=specialty, party_member=member % 2 == 0)
                cadres.assign(db, user_id, community, day, team_id=team,
                              role_in_team="leader" if member == 0 else "member")
                if member == 0:
                    db.execute("UPDATE teams SET leader_id = ? WHERE id = ?", [user_id, team])
                if member < 2:
                    logins.append((f"{role} {community_name}", phone, name))
    return logins


def _user(db, phone: str, name: str, role: str, place_id: int) -> str:
    create_user(db, phone, name, DEMO_PASSWORD, role, place_id=place_id)
    return name
