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

    'checkin.saving': '正在保存…',
    'checkin.saved_title': '已保存在手机上',
    'checkin.saved_body': '联网后自动发送，不用再报到一次。',
    'checkin.saved_outbox': '查看待发送记录',
    'checkin.unknown_place': '地点待核验',
    'checkin.verify_later': '手机上没有这张海报的信息：可以先报到，联网后核验。',
    'checkin.offline_place': '离线：地点来自手机上保存的信息，联网后核验。',
    'checkin.rejected': '报到未被接受',
    'checkin.conflict': '这条记录与服务器上的记录冲突',
    'badge.checkout_pending': '签退待发送 {time}',
    'checkout.saved': '签退已保存在手机上',
    'home.code_offline_unknown': '离线时找不到这个数字码。请联网后再试，或扫描海报二维码。',
    'outbox.badge': '待发送 {n}',
    'outbox.badge_label': '{n} 条记录还没有发送，点此查看',
    'outbox.title': '待发送记录',
    'outbox.empty': '所有记录都已发送。',
    'outbox.count': '手机上有 {n} 条记录还没有发送',
    'outbox.oldest': '最早的一条已等待 {age}',
    'outbox.old_warning': '有记录超过3天没有发送。iPhone 可能删除长期未打开网站的数据，请尽快到有信号的地方打开本应用发送。',
    'outbox.send_now': '立即发送',
    'outbox.attempts': '（已尝试 {n} 次）',
    'outbox.state.waiting': '待发送',
    'outbox.state.sending': '发送中',
    'outbox.state.invalid': '被拒绝',
    'outbox.state.conflict': '冲突',
    'outbox.invalid_help': '服务器拒绝了这条记录，原因：',
    'outbox.conflict_help': '服务器上已有一条编号相同、内容不同的记录，服务器保留了它。请核对两份内容；核对后可删除手机上的这条。',
    'outbox.phone_version': '手机上的记录',
    'outbox.server_version': '服务器上的记录',
    'outbox.discard': '删除这条',
    'outbox.discard_confirm': '删除后这条记录不会再发送，也无法恢复。确定删除吗？',
    'outbox.other_user': '这条记录由另一个账号保存，需用那个账号登录才能发送。',
    'outbox.too_large': '这条记录太大，服务器无法接收。',
    'outbox.phase.sending': '正在发送…',
    'outbox.phase.done': '发送完成',
    'outbox.phase.offline': '网络不通，{time} 自动重试',
    'outbox.phase.offline_wait': '没有网络，联网后自动发送',
    'outbox.phase.backoff': '服务器繁忙，{time} 自动重试',
    'outbox.phase.login': '登录已过期，登录后继续发送',
    'outbox.phase.busy': '另一个窗口正在发送',
    'outbox.guide_title': '请注意',
    'outbox.guide1': '记录保存在这个浏览器里：请一直用同一个浏览器或同一个主屏幕图标打开“报到”。',
    'outbox.guide2': '不要清除浏览器数据或缓存，否则没发送的记录会丢失。',
    'outbox.guide3': '到有信号的地方打开本应用，记录会自动发送；也可以按“立即发送”。',
    'outbox.guide4': '被拒绝的记录不会自动删除：看清原因后，需要时重新报到，再删除旧的一条。',

    'storage.persist_refused': '浏览器没有同意长期保存本应用的数据，手机空间紧张时可能删除未发送的记录。建议把“报到”添加到主屏幕，并尽快联网发送。',
    'storage.nearly_full': '本应用的存储空间已用 {pct}%。请尽快联网发送记录，并清理手机空间。',
    'storage.memory': '这个浏览器不能在手机上保存记录，关闭页面后未发送的记录会丢失。请在有信号时使用，或用手机自带的浏览器打开。',
    'storage.quota': '手机存储空间已满，记录没能保存到手机上。请清理手机空间后再按一次（这条记录仍保留在本页面上）。',
    'storage.quota_start': '手机存储空间已满，新记录可能无法保存。请清理手机空间。',
    'storage.lost': '手机存储暂时无法使用。请再按一次；如仍失败，请刷新页面。',
    'storage.blocked': '请关闭其他打开着的“报到”页面，然后点此刷新。',
    'storage.versionchange': '“报到”已在另一个页面更新，请点此刷新。',

    'type.checkin': '报到',
    'type.checkout': '签退',
    'type.screening_visit': '入户排查',
    'type.isolation_visit': '隔离走访',
    'type.delivery': '送医送药',
    'type.household': '住户信息',
    'field.recorded_at': '记录时间',
    'field.received_at': '服务器收到时间',
    'field.place_name': '地点',
    'field.location': '位置',
    'field.lat': '纬度',
    'field.lng': '经度',
    'field.accuracy': '精度（米）',
    'field.checkin_id': '报到记录',
    'field.checkout': '签退',
    'field.outside_assignment': '非本人下沉社区',
    'field.clock_flag': '手机时间异常',

    'age.now': '不到1分钟',
    'age.days': '{n} 天',
    'age.hours': '{n} 小时',
    'age.minutes': '{n} 分钟',

    'logout.unsent_confirm': '还有 {n} 条记录没有发送。退出后记录仍在手机上，但要用同一个账号登录才能发送。确定退出吗？',

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

    'checkin.saving': 'Saving…',
    'checkin.saved_title': 'Saved on the phone',
    'checkin.saved_body': 'It will be sent by itself when there is a network. No need to check in again.',
    'checkin.saved_outbox': 'See unsent records',
    'checkin.unknown_place': 'Place to be verified',
    'checkin.verify_later': 'This phone does not know this poster: you can check in now; it is verified when online.',
    'checkin.offline_place': 'Offline: the place comes from the copy on this phone and is verified when online.',
    'checkin.rejected': 'The check-in was not accepted',
    'checkin.conflict': 'This record conflicts with the one on the server',
    'badge.checkout_pending': 'Check-out not sent yet {time}',
    'checkout.saved': 'Check-out saved on the phone',
    'home.code_offline_unknown': 'This code is not known offline. Try again with a network, or scan the poster.',
    'outbox.badge': 'Unsent {n}',
    'outbox.badge_label': '{n} records not sent yet: tap to see them',
    'outbox.title': 'Records not sent yet',
    'outbox.empty': 'Everything has been sent.',
    'outbox.count': '{n} records on this phone are not sent yet',
    'outbox.oldest': 'The oldest has waited {age}',
    'outbox.old_warning': 'Some records have waited more than 3 days. iPhones may delete the data of sites not opened for a while: open the app where there is signal soon.',
    'outbox.send_now': 'Send now',
    'outbox.attempts': '({n} tries)',
    'outbox.state.waiting': 'Waiting',
    'outbox.state.sending': 'Sending',
    'outbox.state.invalid': 'Rejected',
    'outbox.state.conflict': 'Conflict',
    'outbox.invalid_help': 'The server refused this record:',
    'outbox.conflict_help': 'The server already has a record with this id and other content, and kept it. Compare both; then you may discard the one on the phone.',
    'outbox.phone_version': 'On this phone',
    'outbox.server_version': 'On the server',
    'outbox.discard': 'Discard this record',
    'outbox.discard_confirm': 'The record will not be sent and cannot be recovered. Discard it?',
    'outbox.other_user': 'Saved under another account: log in with that account to send it.',
    'outbox.too_large': 'This record is too large for the server.',
    'outbox.phase.sending': 'Sending…',
    'outbox.phase.done': 'Sending finished',
    'outbox.phase.offline': 'No network. Trying again at {time}',
    'outbox.phase.offline_wait': 'No network: sent by itself once online',
    'outbox.phase.backoff': 'The server is busy. Trying again at {time}',
    'outbox.phase.login': 'Login expired: log in to continue sending',
    'outbox.phase.busy': 'Another window is sending',
    'outbox.guide_title': 'Please note',
    'outbox.guide1': 'Records are kept in this browser: always open Baodao in the same browser or from the same home-screen icon.',
    'outbox.guide2': 'Do not clear the browser data or cache, or unsent records are lost.',
    'outbox.guide3': 'Open the app where there is signal and records are sent by themselves; or press "Send now".',
    'outbox.guide4': 'Rejected records are not deleted by themselves: read the reason, check in again if needed, then discard the old one.',

    'storage.persist_refused': 'The browser did not agree to keep this app\'s data for good: it may delete unsent records when the phone runs short of space. Add Baodao to the home screen and send soon.',
    'storage.nearly_full': 'This app has used {pct}% of its storage. Send your records soon and free space on the phone.',
    'storage.memory': 'This browser cannot keep records on the phone: unsent records are lost when the page closes. Use it where there is signal, or open the app in the phone\'s own browser.',
    'storage.quota': 'The phone storage is full: the record was not saved on the phone. Free some space and press again (the record is still on this page).',
    'storage.quota_start': 'The phone storage is full: new records may not be saved. Free some space.',
    'storage.lost': 'The phone storage is not available right now. Press again; if it still fails, reload the page.',
    'storage.blocked': 'Close the other open Baodao pages, then tap here to reload.',
    'storage.versionchange': 'Baodao was updated in another page: tap here to reload.',

    'type.checkin': 'Check-in',
    'type.checkout': 'Check-out',
    'type.screening_visit': 'Screening visit',
    'type.isolation_visit': 'Isolation visit',
    'type.delivery': 'Delivery',
    'type.household': 'Household',
    'field.recorded_at': 'Recorded',
    'field.received_at': 'Received by the server',
    'field.place_name': 'Place',
    'field.location': 'Location',
    'field.lat': 'Latitude',
    'field.lng': 'Longitude',
    'field.accuracy': 'Accuracy (m)',
    'field.checkin_id': 'Check-in',
    'field.checkout': 'Check-out',
    'field.outside_assignment': 'Not the assigned community',
    'field.clock_flag': 'Phone clock off',

    'age.now': 'under a minute',
    'age.days': '{n} days',
    'age.hours': '{n} hours',
    'age.minutes': '{n} minutes',

    'logout.unsent_confirm': '{n} records are not sent yet. They stay on the phone, but only the same account can send them. Log out?',

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
