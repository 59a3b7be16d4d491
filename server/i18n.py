"""Server-side messages in Simplified Chinese (default) and English (when the user picks it).

The user's choice is the `lang` cookie the PWA sets; Accept-Language is ignored on purpose,
since many phones in China report an English browser language.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from flask import has_request_context, request

LANGUAGES = ("zh", "en")

MESSAGES: dict[str, tuple[str, str]] = {
    # key: (zh, en)
    "bad_credentials": ("手机号或密码错误", "Wrong phone number or password"),
    "too_many_attempts": (
        "尝试次数过多，请{minutes}分钟后再试",
        "Too many attempts; try again in {minutes} minutes",
    ),
    "login_required": ("请先登录", "Please log in first"),
    "forbidden": ("您无权访问此内容", "You are not allowed to access this"),
    "not_found": ("未找到", "Not found"),
    "method_not_allowed": ("不支持此请求方法", "Method not allowed"),
    "csrf": ("安全校验失败，请刷新页面后重试", "Security check failed; reload the page and retry"),
    "invalid_json": ("请求体必须是 JSON 对象", "The request body must be a JSON object"),
    "json_too_deep": ("请求体嵌套过深（最多 {limit} 层）",
                      "The request body is nested too deep (at most {limit} levels)"),
    "invalid": ("提交的内容有误", "Some fields are not valid"),
    "too_large": ("请求过大", "Request too large"),
    "server_error": (
        "服务器内部错误，数据未保存，请稍后重试", "Server error; nothing was saved, retry later"
    ),
    "storage_unavailable": (
        "服务器存储暂不可用，记录已保留在手机上，请稍后再发送",
        "Server storage unavailable; your records stay on the phone, send them later",
    ),
    "wrong_password": ("原密码错误", "The current password is wrong"),
    "password_short": ("密码至少 {limit} 位", "must have at least {limit} characters"),
    "password_weak": (
        "密码太简单（常见密码、连续或重复的字符、键盘顺序、手机号或姓名），请换一个更难猜的",
        "is too easy to guess (a common password, a run or repeat, a keyboard walk, the phone "
        "number or the name); choose a harder one",
    ),
    "login_slowed": (
        "此账号或此网络登录失败次数过多，请{seconds}秒后再试",
        "Too many failed logins for this account or network; try again in {seconds} seconds",
    ),
    "notice_login_failures_title": ("{who}的账号多次登录失败", "Repeated failed logins: {who}"),
    "notice_login_failures_body": (
        "{who}（{phone}）的账号在{minutes}分钟内登录失败{count}次。如非本人所为，"
        "可为其解锁或结束其全部登录，并提醒本人修改密码。",
        "The account of {who} ({phone}) had {count} failed logins within {minutes} minutes. "
        "If it was not them, unlock it or end all its sessions, and ask them to change the "
        "password.",
    ),
    "password_changed": ("密码已修改", "Password changed"),
    "poster_invalid": (
        "二维码无效：不是本系统签发的海报",
        "Invalid QR code: this poster was not issued by this system",
    ),
    "poster_unknown": ("找不到此海报，请联系社区重新打印", "Unknown poster; ask the committee"),
    "poster_revoked": (
        "此海报已作废，请扫描社区张贴的新海报",
        "This poster was revoked; scan the new poster",
    ),
    "poster_revoked_too_old": (
        "此海报已作废：离线扫码后超过 {hours} 小时才上传，旧海报不再有效，请扫描社区张贴的新海报",
        "This poster was revoked, and this offline scan reached the server more than {hours} "
        "hours after it was made; scan the new poster",
    ),
    "code_unknown": ("报到码不存在或已作废", "No active poster has this code"),
    "id_taken": (
        "此记录编号已被他人的记录使用，本条未保存；请删除后重新录入",
        "This record id is already used by someone else's record; nothing was saved. "
        "Discard it and enter it again",
    ),
    "record_rejected": (
        "记录内容违反数据规则（例如同一编号出现两次），本条未保存",
        "The record breaks a data rule (for example one id used twice); nothing of it was saved",
    ),
    "conflict": (
        "此编号的记录已存在且内容不同，服务器保留原记录",
        "A different record with this id already exists; the stored one is kept",
    ),
    "checkin_unknown": ("找不到要签退的报到记录", "The check-in to close was not found"),
    "checkin_not_yours": ("只能签退自己的报到", "You can only check out of your own check-in"),
    "already_checked_out": ("此报到已签退", "This check-in was already closed"),
    "checkout_before_checkin": ("签退时间早于报到时间", "Check-out time is before the check-in"),
    # screening and home isolation
    "temperature_range": ("体温应在 34.0 至 43.0 °C 之间", "Temperature must be 34.0-43.0 °C"),
    "in_future": ("时间不能晚于当前时间", "Cannot be in the future"),
    "id_checksum": ("身份证号码校验不通过", "Not a valid mainland ID card number"),
    "household_unknown": ("找不到此户", "Unknown household"),
    "resident_unknown": ("找不到此居民", "Unknown resident"),
    "resident_not_in_household": ("此居民不属于该户", "This resident does not live in this household"),
    "grid_unknown": ("找不到此网格", "Unknown grid"),
    "round_unknown": ("找不到此排查轮次", "Unknown screening round"),
    "visit_unknown": ("找不到要更正的走访记录", "The visit to correct was not found"),
    "address_taken": ("该地址已有住户登记", "A household is already registered at this address"),
    "version_conflict": (
        "此记录已被他人修改，您的修改已保存到历史记录，请核对后重新提交",
        "Someone else changed this record; your edit is kept in the history, check and resend",
    ),
    "case_unknown": ("找不到此隔离对象", "Unknown isolation case"),
    "case_ended": ("此隔离已结束", "This isolation case has ended"),
    "case_open": ("此居民已有进行中的隔离", "This resident already has an open isolation case"),
    "policy_unknown": ("找不到此隔离方案", "Unknown isolation policy"),
    "release_needs_reason": (
        "未到计划解除日期，提前解除须填写原因",
        "Releasing before the planned end needs a reason",
    ),
    "end_before_start": ("结束日期早于开始日期", "The end is before the start"),
    "delivery_unknown": ("找不到此送医送药任务", "Unknown delivery"),
    "delivery_done": ("此任务已送达", "This delivery was already delivered"),
    "delivery_taken": ("此任务已被他人认领", "Another cadre has taken this delivery"),
    # push notices
    "push_disabled": ("推送未启用，请在应用内查看通知", "Push is off; read notices in the app's inbox"),
    "push_key_changed": (
        "推送密钥已更换，请重新订阅", "The push key was changed; subscribe again"),
    "notice_unknown": ("找不到此通知", "Unknown notice"),
    "no_recipients": ("没有符合条件的接收人", "No one matches these recipients"),
    "notice_expiry": (
        "有效期须晚于现在，且不超过 {days} 天", "The expiry must be in the future, at most {days} days"),
    "notice_health_title": ("健康异常：{who}", "Health alert: {who}"),
    "notice_health_body": ("{who} 走访发现：{reasons}。请及时处置。",
                           "A visit to {who} found: {reasons}. Please act."),
    "notice_assignment_title": ("下沉任务：{community}", "Assignment: {community}"),
    "notice_assignment_body": ("您已被派驻到{community}，自 {starts_on} 起。请扫码报到。",
                               "You are assigned to {community} from {starts_on}. "
                               "Scan the poster to check in."),
    "notice_overdue_title": ("隔离走访逾期：{who}", "Isolation visit overdue: {who}"),
    "notice_overdue_body": ("{who} {day} {slot}的走访尚未记录，请尽快上门。",
                            "The {slot} visit of {day} to {who} is not recorded yet."),
    # server/retention.py: the text of a notice whose person was anonymised
    "retention_notice_title": ("关于一名居民的提醒（已匿名）", "About a resident (anonymised)"),
    "retention_notice_body": (
        "一名居民的个人信息已按保存期限删除，此通知内容随之匿名。",
        "A resident's personal data was deleted at the end of its retention period; "
        "this notice was anonymised with it."),
    "slot_morning": ("上午", "morning"),
    "slot_evening": ("下午", "evening"),
    # mobilisation, enterprises, inspections
    "enterprise_unknown": ("找不到此企业", "Unknown enterprise"),
    "need_unknown": ("找不到此需求", "Unknown need"),
    "need_closed": ("此需求已关闭", "This need is closed"),
    "call_up_unknown": ("找不到此动员令", "Unknown call-up"),
    "ticket_unknown": ("找不到此问题", "Unknown problem ticket"),
    "ticket_confirmed": ("企业已确认解决，此问题不能再修改",
                         "The enterprise confirmed this solved; it is closed"),
    "ticket_not_solved": ("问题尚未标记为已解决", "The problem is not marked solved yet"),
    "not_stationed": ("您未派驻此企业", "You are not stationed with this enterprise"),
    "not_a_cadre": ("不是可派遣的干部", "Not a cadre who can be assigned"),
    "assignment_conflict": ("该干部在此期间已有任务", "This cadre already has an assignment in this period"),
    "phone_taken": ("此手机号已有账号", "This phone number already has an account"),
    "name_taken": ("此名称已存在", "This name is already used"),
    "checkpoint_unknown": ("找不到此卡口", "Unknown checkpoint"),
    "user_unknown": ("找不到此人员", "Unknown person"),
    "repeated": ("重复", "is repeated"),
    "notice_station_title": ("驻企任务：{enterprise}", "Stationed with: {enterprise}"),
    "notice_station_body": ("您已被选派为{enterprise}的驻企特派员，自 {starts_on} 起。需求：{need}",
                            "You are the stationed cadre of {enterprise} from {starts_on}. "
                            "Need: {need}"),
    "match_named": ("工作单位即企业点名的部门：{unit}", "Works at the department asked for: {unit}"),
    "match_related": ("工作单位{unit}对口“{category}”类问题",
                      "Home unit {unit} handles {category} problems"),
    "match_specialty": ("专业特长“{specialty}”符合需求", "Specialty {specialty} fits the need"),
    "match_volunteered": ("已为此需求主动请战", "Volunteered for this need"),
    "match_available": ("已主动请战，可用日期覆盖需求", "Volunteered, available on the need's dates"),
    "match_same_community": ("登记社区与需求同社区", "Registered in the need's community"),
    "match_same_town": ("登记社区与需求同街道/乡镇", "Registered in the need's town"),
    "match_same_district": ("登记社区与需求同区县", "Registered in the need's district"),
    "match_load": ("当前在岗任务 {count} 项", "{count} current assignments"),
    # uploaded tables (server/tables.py): the file is refused whole, nothing is imported
    "table_max_rows": ("文件超过 {limit} 行（第 {line} 行），未导入；请分成几个文件导入",
                       "The file has more than {limit} rows (line {line}); nothing was imported. "
                       "Split it into several files"),
    "table_max_columns": ("第 {line} 行有 {count} 列，超过上限 {limit} 列，未导入",
                          "Line {line} has {count} columns, more than the limit of {limit}; "
                          "nothing was imported"),
    "table_max_cell_length": ("第 {line} 行第 {column} 列超过 {limit} 个字符，未导入",
                              "Line {line}, column {column} has more than {limit} characters; "
                              "nothing was imported"),
    "table_max_seconds": ("读取文件超过 {limit} 秒（读到第 {line} 行），未导入；请分成几个文件导入",
                          "Reading the file took more than {limit} seconds (at line {line}); "
                          "nothing was imported. Split it into several files"),
    "table_max_unzipped": ("Excel 文件解压后过大（{part} 超过 {limit} MB），不是正常的表格，未导入",
                           "The workbook unpacks too large ({part} over {limit} MB); not a normal "
                           "spreadsheet, nothing was imported"),
    "table_encoding": (
        "无法识别文件的编码，未导入。请另存为：CSV UTF-8（逗号分隔）、CSV（GBK/GB18030）、"
        "Unicode 文本（UTF-16，制表符分隔）或 Excel 工作簿（.xlsx）",
        "The file's text encoding cannot be read; nothing was imported. Save it as CSV UTF-8, "
        "CSV (GBK/GB18030), Unicode text (UTF-16, tab separated) or Excel workbook (.xlsx)"),
    "table_format": (
        "不是可读取的 .xlsx 或 CSV 文件，未导入。请另存为 Excel 工作簿（.xlsx）、CSV UTF-8、"
        "CSV（GBK/GB18030）或 Unicode 文本（UTF-16）",
        "Not a readable .xlsx or CSV file; nothing was imported. Save it as Excel workbook "
        "(.xlsx), CSV UTF-8, CSV (GBK/GB18030) or Unicode text (UTF-16)"),
    "table_old_xls": ("旧版 Excel（.xls）或加密的文件无法读取，未导入；请另存为 Excel 工作簿（.xlsx）",
                      "An old Excel (.xls) or encrypted file cannot be read; nothing was "
                      "imported. Save it as Excel workbook (.xlsx)"),
    "table_csv_syntax": ("第 {line} 行无法解析（引号不成对？），未导入",
                         "Line {line} cannot be parsed (an unmatched quote?); nothing was imported"),
    # JSON Schema rules, by validator keyword
    "rule_required": ("必填", "is required"),
    "rule_type": ("类型应为 {expected}", "must be of type {expected}"),
    "rule_minLength": ("至少 {limit} 个字符", "must have at least {limit} characters"),
    "rule_maxLength": ("最多 {limit} 个字符", "must have at most {limit} characters"),
    "rule_pattern": ("格式不正确", "has the wrong format"),
    "rule_format": ("格式不正确（应为 {format}）", "has the wrong format (expected {format})"),
    "rule_enum": ("取值应为 {options} 之一", "must be one of {options}"),
    "rule_minimum": ("不能小于 {limit}", "must be at least {limit}"),
    "rule_maximum": ("不能大于 {limit}", "must be at most {limit}"),
    "rule_additionalProperties": ("不允许的字段", "is not an allowed field"),
    "rule_maxDepth": ("嵌套最多 {limit} 层", "must be nested at most {limit} levels deep"),
    "rule_text": ("含有无法保存的字符（残缺的表情符号？）",
                  "holds characters that cannot be stored (a broken emoji?)"),
    "rule_https": ("应为推送服务的 https 网址", "must be the push service's https URL"),
    "rule_push_service": (
        "不是已知推送服务的网址（FCM、Mozilla、Apple、Microsoft 或部署方配置的推送服务）",
        "is not on a known push service (FCM, Mozilla, Apple, Microsoft or one the deployer "
        "configured)"),
    "rule_push_address": ("应为推送服务的域名，不能是 IP 地址（本机、内网等地址一律拒绝）",
                          "must name the push service, not an IP address (loopback, private "
                          "and reserved addresses are refused)"),
    "rule_p256dh": ("不是 P-256 公钥", "is not a P-256 public key"),
    "rule_auth_secret": ("不是 16 字节的认证密钥", "is not a 16-byte auth secret"),
    "rule_other": ("不符合规则：{rule}", "breaks the rule: {rule}"),
    "rule_date_time": (
        "应为带时区的时间，如 2026-11-26T08:15:00+08:00",
        "must be a time with its UTC offset, like 2026-11-26T08:15:00+08:00",
    ),
}


_speaking = threading.local()


@contextlib.contextmanager
def speaking(lang: str) -> Iterator[None]:
    """Messages made inside are in `lang`: for work done for a request outside it (the
    group-commit writer thread stores a check-in for a phone whose user reads English)."""
    before = getattr(_speaking, "lang", None)
    _speaking.lang = lang
    try:
        yield
    finally:
        _speaking.lang = before


def current_language() -> str:
    if getattr(_speaking, "lang", None):
        return _speaking.lang
    if has_request_context():
        lang = request.cookies.get("lang", "") or request.args.get("lang", "")
        if lang.lower().startswith("en"):
            return "en"
    return "zh"


def t(key: str, lang: str | None = None, **params: object) -> str:
    """The message for `key` in the user's language, with {params} filled in."""
    zh, en = MESSAGES[key]
    text = en if (lang or current_language()) == "en" else zh
    return text.format(**params) if params else text
