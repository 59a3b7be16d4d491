// i18n.js: UI strings in Simplified Chinese (default) and English, and date formatting.
// The language lives in the `lang` cookie so the server answers its error messages in it too.

const dict = {
  zh: {
    'app.name': '报到',
    'loading': '加载中…',
    'role.cadre': '下沉干部',
    'role.leader': '队长',
    'role.committee': '社区工作人员',
    'role.admin': '管理员',
    'lang.switch': 'EN',
    'lang.switch_label': 'Switch to English',
    'nav.home': '首页',
    'nav.password': '修改密码',
    'nav.logout': '退出',

    'login.title': '登录',
    'login.phone': '手机号',
    'login.password': '密码',
    'login.submit': '登录',
    'login.busy': '正在登录…',
    'login.missing': '请输入手机号和密码',
    'login.expired': '登录已过期，请重新登录后继续。',
    'login.poster_hint': '登录后将回到此报到页面。',

    'home.title': '我的报到',
    'home.scan': '扫码报到',
    'home.scan_hint': '也可以用手机相机或微信“扫一扫”扫描社区海报上的二维码。',
    'home.code_label': '或输入海报上的8位数字码',
    'home.code_submit': '确定',
    'home.code_invalid': '请输入8位数字',
    'home.mine': '我的记录',
    'home.none': '还没有报到记录',

    'scan.close': '关闭相机',
    'scan.aim': '请将二维码对准取景框',
    'scan.not_poster': '这不是报到海报的二维码，请扫描社区的报到海报。',
    'scan.no_camera': '无法打开相机（{msg}）。请用手机相机扫码或输入数字码。',
    'scan.unsupported': '此浏览器不支持扫码',

    'badge.watch': '值守中',
    'badge.outside': '非本人下沉社区',
    'badge.flagged': '异地报到',
    'badge.checked_out': '已签退 {time}',

    'checkin.where': '报到地点',
    'checkin.button': '报到',
    'checkin.locating': '正在获取位置…',
    'checkin.busy': '正在报到…',
    'checkin.network': '网络不通，报到未送达。请再按“报到”重试。',
    'checkin.success': '报到成功',
    'checkin.repeat': '您已在此报到',
    'checkin.watch_note': '值守中，离岗时请签退。',
    'checkin.home': '返回首页',
    'checkin.open': '您在 {place} 的报到尚未签退（{time} 起）',

    'checkout.button': '签退',
    'checkout.busy': '正在签退…',
    'checkout.success': '签退成功',

    'poster.error_title': '无法使用此海报',
    'poster.title': '二维码海报',
    'poster.none': '暂无海报',
    'poster.code': '数字码',
    'poster.issued': '生成于 {time}',
    'poster.print': '打印',
    'poster.reissue': '重新生成',
    'poster.confirm': '重新生成后旧海报立即失效，需要重新打印张贴。确定重新生成吗？',
    'poster.reissued': '已重新生成，请打印新海报替换旧海报。',
    'poster.img_alt': '{name} 二维码',

    'dash.title': '今日报到',
    'dash.place': '辖区',
    'dash.refresh': '刷新',
    'dash.day': '{day}',
    'dash.assigned': '应报到 {n} 人',
    'dash.no_place': '您的账号未关联辖区。',
    'dash.reported': '已报到',
    'dash.on_watch': '值守中',
    'dash.not_reported': '未报到',
    'dash.rows': '各社区',
    'dash.none': '无',
    'dash.since': '{time} 起',
    'dash.row_stats': '已报到 {reported}/{assigned} · 值守 {on_watch} · 异地 {flagged} · 未报到 {not_reported}',

    'tile.reported': '已报到',
    'tile.on_watch': '值守中',
    'tile.not_reported': '未报到',
    'tile.flagged': '异地报到',

    'kind.district': '区县',
    'kind.town': '街道/乡镇',
    'kind.community': '社区/村',
    'kind.grid': '网格',
    'kind.checkpoint': '卡口',

    'pwd.title': '修改密码',
    'pwd.old': '当前密码',
    'pwd.new': '新密码',
    'pwd.confirm': '再次输入新密码',
    'pwd.mismatch': '两次输入的新密码不一致',
    'pwd.missing': '请填写所有密码',
    'pwd.submit': '保存',
    'pwd.done': '密码已修改',

    'update.bar': '新版本可用，点此刷新',

    'err.network': '网络连接失败，请检查网络后重试。',
    'err.network_title': '无法连接服务器',
    'err.server': '服务器出错（{status}），请稍后重试。',
    'err.http': '请求失败（{status}）',
    'err.bad_answer': '服务器的回答无法识别',
    'err.retry': '重试',
  },
  en: {
    'app.name': 'Baodao',
    'loading': 'Loading…',
    'role.cadre': 'Cadre',
    'role.leader': 'Team leader',
    'role.committee': 'Committee staff',
    'role.admin': 'Administrator',
    'lang.switch': '中文',
    'lang.switch_label': '切换到中文',
    'nav.home': 'Home',
    'nav.password': 'Password',
    'nav.logout': 'Log out',

    'login.title': 'Log in',
    'login.phone': 'Phone number',
    'login.password': 'Password',
    'login.submit': 'Log in',
    'login.busy': 'Logging in…',
    'login.missing': 'Enter your phone number and password',
    'login.expired': 'Your login has expired. Log in again to continue.',
    'login.poster_hint': 'After logging in you will come back to this check-in.',

    'home.title': 'My check-ins',
    'home.scan': 'Scan to check in',
    'home.scan_hint': 'You can also scan the QR code on the community poster with the phone camera or WeChat "Scan".',
    'home.code_label': 'Or enter the 8-digit code on the poster',
    'home.code_submit': 'OK',
    'home.code_invalid': 'Enter the 8 digits',
    'home.mine': 'My records',
    'home.none': 'No check-ins yet',

    'scan.close': 'Close camera',
    'scan.aim': 'Point the camera at the QR code',
    'scan.not_poster': 'This QR code is not a Baodao poster. Scan the community check-in poster.',
    'scan.no_camera': 'Cannot open the camera ({msg}). Use the phone camera or enter the code.',
    'scan.unsupported': 'This browser cannot scan QR codes',

    'badge.watch': 'On watch',
    'badge.outside': 'not your assigned community',
    'badge.flagged': 'Outside assignment',
    'badge.checked_out': 'Checked out {time}',

    'checkin.where': 'Check in at',
    'checkin.button': 'Check in',
    'checkin.locating': 'Getting location…',
    'checkin.busy': 'Checking in…',
    'checkin.network': 'No network: the check-in was not sent. Press "Check in" again to retry.',
    'checkin.success': 'Checked in',
    'checkin.repeat': 'Already checked in here',
    'checkin.watch_note': 'On watch. Check out when you leave.',
    'checkin.home': 'Back to home',
    'checkin.open': 'You are checked in at {place} since {time} and have not checked out',

    'checkout.button': 'Check out',
    'checkout.busy': 'Checking out…',
    'checkout.success': 'Checked out',

    'poster.error_title': 'This poster cannot be used',
    'poster.title': 'QR posters',
    'poster.none': 'No posters yet',
    'poster.code': 'Code',
    'poster.issued': 'Issued {time}',
    'poster.print': 'Print',
    'poster.reissue': 'Re-issue',
    'poster.confirm': 'The old poster stops working at once and must be replaced. Re-issue this poster?',
    'poster.reissued': 'Re-issued. Print the new poster and replace the old one.',
    'poster.img_alt': 'QR code for {name}',

    'dash.title': "Today's check-ins",
    'dash.place': 'Area',
    'dash.refresh': 'Refresh',
    'dash.day': '{day}',
    'dash.assigned': '{n} assigned',
    'dash.no_place': 'Your account has no area.',
    'dash.reported': 'Reported',
    'dash.on_watch': 'On watch',
    'dash.not_reported': 'Not reported',
    'dash.rows': 'Communities',
    'dash.none': 'None',
    'dash.since': 'since {time}',
    'dash.row_stats': 'reported {reported}/{assigned} · on watch {on_watch} · flagged {flagged} · not reported {not_reported}',

    'tile.reported': 'Reported',
    'tile.on_watch': 'On watch',
    'tile.not_reported': 'Not reported',
    'tile.flagged': 'Outside assignment',

    'kind.district': 'District',
    'kind.town': 'Town',
    'kind.community': 'Community',
    'kind.grid': 'Grid',
    'kind.checkpoint': 'Checkpoint',

    'pwd.title': 'Change password',
    'pwd.old': 'Current password',
    'pwd.new': 'New password',
    'pwd.confirm': 'New password again',
    'pwd.mismatch': 'The two new passwords differ',
    'pwd.missing': 'Fill in all passwords',
    'pwd.submit': 'Save',
    'pwd.done': 'Password changed',

    'update.bar': 'New version available: tap to reload',

    'err.network': 'Network error. Check your connection and try again.',
    'err.network_title': 'Cannot reach the server',
    'err.server': 'Server error ({status}). Try again later.',
    'err.http': 'Request failed ({status})',
    'err.bad_answer': 'The server answer was not understood',
    'err.retry': 'Retry',
  },
};

function readCookie() {
  const m = document.cookie.match(/(?:^|;\s*)lang=([^;]*)/);
  return m && m[1] === 'en' ? 'en' : 'zh';
}

let current = readCookie();

export function getLang() {
  return current;
}

export function setLang(lang) {
  current = lang === 'en' ? 'en' : 'zh';
  document.cookie = `lang=${current}; path=/; max-age=31536000; SameSite=Lax`;
  applyLang();
}

export function applyLang() {
  document.documentElement.lang = current === 'en' ? 'en' : 'zh-CN';
  document.title = t('app.name');
}

export function has(key) {
  return key in dict[current] || key in dict.zh;
}

/** t('dash.since', {time: '08:15'}): the string in the current language, {name}s filled in. */
export function t(key, params) {
  const s = dict[current][key] ?? dict.zh[key] ?? key;
  return params ? s.replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k] ?? '') : m)) : s;
}

// Formatters are cached per language; times show in the browser's own zone.
const formats = {};
function fmt(kind) {
  const key = current + kind;
  if (!formats[key]) {
    const locale = current === 'en' ? 'en' : 'zh-CN';
    const opts = kind === 'clock'
      ? { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }
      : { month: current === 'en' ? 'short' : 'long', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' };
    formats[key] = new Intl.DateTimeFormat(locale, opts);
  }
  return formats[key];
}

function parse(iso) {
  const d = iso ? new Date(iso) : null;
  return d && !Number.isNaN(d.getTime()) ? d : null;
}

/** "11月26日 08:15" / "Nov 26, 08:15" */
export function fmtTime(iso) {
  const d = parse(iso);
  return d ? fmt('time').format(d) : String(iso ?? '');
}

/** "08:15" */
export function fmtClock(iso) {
  const d = parse(iso);
  return d ? fmt('clock').format(d) : String(iso ?? '');
}

/** True when iso falls on today's date in the browser's zone. */
export function isToday(iso) {
  const d = parse(iso);
  return !!d && d.toDateString() === new Date().toDateString();
}
