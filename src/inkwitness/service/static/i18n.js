// Chinese and English for the ceremony and the console: chosen from the browser's language,
// switchable, remembered for this browser. Elements carry data-i18n="key" (text) or
// data-i18n-attr="attr:key" (attributes such as aria-label and placeholder).

const STRINGS = {
  en: {
    "lang.switch": "中文", "lang.switch.label": "显示中文 (switch to Chinese)",
    "brand": "inkwitness",
    // signer
    "sign.title": "Signature request",
    "sign.loading": "Loading the signing request…",
    "sign.who": "{requester} asks {signer} to sign “{document}”.",
    "sign.who.nosigner": "{requester} asks you to sign “{document}”.",
    "sign.you": "you",
    "sign.why": "Why: {reason}",
    "sign.expires": "This link works once, until {time}.",
    "sign.plain.verify": "You are asked to sign, to confirm your identity.",
    "sign.plain.enrol": "You are asked to sign {n} times, so that your signature can be recognised later.",
    "sign.plain.verify.by": "{requester} asks you to sign, to confirm your identity.",
    "sign.plain.enrol.by": "{requester} asks you to sign {n} times, so that your signature can be recognised later.",
    "doc.heading": "1. Read the document",
    "doc.page": "Page {n} of {total}",
    "doc.field": "Sign here",
    "doc.jump": "Go to the place to sign (page {n})",
    "consent.heading": "2. Consent to recording your handwriting",
    "consent.accept": "I have read this and agree to my handwriting being recorded as described.",
    "consent.required": "Please tick the box to agree first, or decline below.",
    "pad.heading": "3. Sign",
    "pad.prompt": "Sign on the line in the box below with your finger or a pen.",
    "pad.prompt.n": "Signature {i} of {n}: sign on the line.",
    "pad.label": "Signing box. Draw your signature with a finger or pen.",
    "pad.line": "Sign above the line",
    "pad.clear": "Clear", "pad.undo": "Undo", "pad.next": "Next signature", "pad.review": "Review",
    "pad.empty": "The box is empty: please sign first.",
    "pad.palm": "A pen was detected: touches of the hand are ignored now.",
    "pad.mixed": "Keep using the same finger or pen, or clear the box to switch.",
    "pad.large": "This signature is getting very long; it may be too large to send.",
    "pad.toolarge": "This signature is too long to send. Please clear it and sign again, a little shorter.",
    "pad.captured": "Signature {i} of {n} kept.",
    "typed.open": "I cannot draw a signature",
    "typed.heading": "Agree with your typed name",
    "typed.label": "Your full name",
    "typed.submit": "Agree with this name",
    "typed.back": "Back to drawing",
    "review.heading": "4. Check and confirm",
    "review.text": "This is your signature for “{document}”. Confirm to sign the document.",
    "review.text.plain": "Please check your signature before sending it.",
    "review.image": "Your signature",
    "review.confirm": "Confirm and sign", "review.change": "Change signature",
    "cancel": "Cancel", "cancel.done": "Nothing was signed. You can come back to this link until it expires.",
    "decline": "Decline to sign", "decline.reason": "Reason (optional)",
    "decline.confirm": "Yes, decline", "decline.keep": "No, go back",
    "decline.ask": "Decline to sign? The sender will be told, and this link will close.",
    "send.busy": "Sending your signature… please wait.",
    "send.retry": "Try again",
    "err.network": "No connection to the server. Your signature is kept: try again when you are online.",
    "err.timeout": "The server did not answer in time. Your signature is kept: try again.",
    "err.server": "The server could not accept the signature (error {status}). Your signature is kept: try again.",
    "err.toolarge": "The signature is too large to send. Please clear and sign again, a little shorter.",
    "err.gone": "This link has expired or was already used. Please ask the sender for a new link.",
    "err.invalid": "The signature could not be read ({detail}). Please clear and sign again.",
    "err.enrol": "One of the signatures differs too much from the others ({detail}). Please sign again.",
    "out.signed": "Signed — you can download your copy.",
    "out.signed.plain": "Thank you — your signature has been received.",
    "out.enrolled": "Thank you — your signatures have been received.",
    "out.typed": "Your agreement with your typed name has been recorded. The sender will send you the document.",
    "out.declined": "You declined to sign. The sender has been told.",
    "out.download": "Download the signed document (PDF)",
    // console
    "con.title": "Clerk console",
    "con.intro": "Ask customers to sign documents on their own phone, enrol their signatures and check them. This page is for staff.",
    "con.key.heading": "Your operator key",
    "con.key.label": "Operator API key",
    "con.key.help": "An operator key is issued by your administrator (inkwitness keys create --scopes operator). It stays in this browser tab only.",
    "con.subject.heading": "1. The signer",
    "con.subject.help": "A subject is the person who signs: their enrolled signatures are kept under one id.",
    "con.subject.name": "Full name", "con.subject.ref": "Your reference (customer number, optional)",
    "con.subject.create": "Register new signer", "con.subject.id": "Signer id",
    "con.subject.created": "Signer registered: {id}",
    "con.pad.heading": "2. Enrol or verify in person",
    "con.pad.help": "Enrolment keeps 5 signatures as the signer's references; verification compares one new signature with them.",
    "con.mode.label": "What to do with the signatures",
    "con.mode.enrol": "Enrol (5 signatures)", "con.mode.verify": "Verify (1 signature)",
    "con.pad.label": "Signing box for the signer in front of you",
    "con.pad.submit": "Submit",
    "con.enrolled": "Enrolled with {n} signatures.",
    "con.enrol.link": "Send an enrolment link",
    "con.enrol.link.help": "Or let the signer enrol on their own phone: the link asks for 5 signatures.",
    "con.link.requester": "Who asks (optional, shown to the signer)",
    "con.link.reason": "Why (optional, shown to the signer)",
    "con.result.genuine": "Consistent with the enrolled signatures.",
    "con.result.forgery": "Not consistent with the enrolled signatures.",
    "con.result.replay": "Refused: a copy of a signature already stored (possible replay).",
    "con.result.score": "Score {score} (threshold {threshold}).",
    "con.reasons": "Why:",
    "con.req.heading": "3. Ask for a signature on a document",
    "con.req.file": "Document (PDF)", "con.req.choose": "Choose a PDF…", "con.req.nofile": "No file chosen",
    "con.req.requester": "Who asks (your name or office)",
    "con.req.reason": "Why the signature is needed", "con.req.signer": "Signer's name as shown to them",
    "con.req.page": "Page with the signature field (empty: last page)",
    "con.req.box": "Field x1,y1,x2,y2 in PDF points (empty: bottom right)",
    "con.req.create": "Create signing link",
    "con.pick.help": "Drag a rectangle on the page where the signer should sign (or type the field above).",
    "con.pick.page": "Page {n} of {total}: drag to place the signature field.",
    "con.req.link": "Signing link (works once):",
    "con.req.qr": "QR code of the signing link",
    "con.req.status": "Status: {state}",
    "state.open": "waiting for the signer", "state.viewed": "opened by the signer", "state.signed": "signed",
    "state.typed": "agreed with a typed name (reduced evidential value)", "state.declined": "declined",
    "con.req.sealed": "Sealed PDF", "con.req.evidence": "Evidence bundle (ZIP)", "con.req.report": "Report (PDF)",
    "con.req.verification": "Verification: {text}",
    "con.req.notenrolled": "not checked: the signer has no enrolment",
    "con.busy": "Working…",
    "con.list.heading": "Recent signing requests", "con.list.refresh": "Refresh", "con.list.document": "Document",
    "con.list.signer": "Signer", "con.list.created": "Created", "con.list.state": "Status", "con.list.open": "Open",
    "con.list.show": "Show",
    "con.err": "Error: {detail}",
    "reason.trajectory": "The shape and movement differ from the closest reference more than this person's signatures differ among themselves.",
    "reason.rhythm": "The rhythm of writing differs from the references.",
    "reason.replay": "It is a copy of a signature already stored.",
    "reason.feature": "Unusual value of “{feature}” for this person.",
  },
  zh: {
    "lang.switch": "English", "lang.switch.label": "Switch to English（切换到英文）",
    "brand": "inkwitness",
    "sign.title": "签名请求",
    "sign.loading": "正在加载签名请求…",
    "sign.who": "{requester} 请 {signer} 签署《{document}》。",
    "sign.who.nosigner": "{requester} 请您签署《{document}》。",
    "sign.you": "您",
    "sign.why": "原因：{reason}",
    "sign.expires": "此链接只能使用一次，有效期至 {time}。",
    "sign.plain.verify": "请您签名，以确认您的身份。",
    "sign.plain.enrol": "请您签名 {n} 次，以便日后识别您的签名。",
    "sign.plain.verify.by": "{requester} 请您签名，以确认您的身份。",
    "sign.plain.enrol.by": "{requester} 请您签名 {n} 次，以便日后识别您的签名。",
    "doc.heading": "1. 阅读文件",
    "doc.page": "第 {n} 页，共 {total} 页",
    "doc.field": "在此签名",
    "doc.jump": "前往签名位置（第 {n} 页）",
    "consent.heading": "2. 同意记录您的笔迹",
    "consent.accept": "我已阅读上述内容，同意按上述方式记录我的笔迹。",
    "consent.required": "请先勾选同意，或在下方选择拒绝签署。",
    "pad.heading": "3. 签名",
    "pad.prompt": "请用手指或手写笔在下方方框中的横线上签名。",
    "pad.prompt.n": "第 {i} 个签名，共 {n} 个：请在横线上签名。",
    "pad.label": "签名框。请用手指或手写笔写下您的签名。",
    "pad.line": "请在横线上方签名",
    "pad.clear": "清除", "pad.undo": "撤销", "pad.next": "下一个签名", "pad.review": "检查",
    "pad.empty": "签名框是空的：请先签名。",
    "pad.palm": "已检测到手写笔：现在将忽略手掌的触碰。",
    "pad.mixed": "请继续使用同一手指或手写笔，或清除后再更换。",
    "pad.large": "签名已经很长，可能过大而无法发送。",
    "pad.toolarge": "签名过长，无法发送。请清除后重新签一个短一些的签名。",
    "pad.captured": "已保留第 {i} 个签名，共 {n} 个。",
    "typed.open": "我无法手写签名",
    "typed.heading": "以键入姓名的方式表示同意",
    "typed.label": "您的全名",
    "typed.submit": "以此姓名表示同意",
    "typed.back": "返回手写签名",
    "review.heading": "4. 检查并确认",
    "review.text": "这是您为《{document}》所签的签名。确认后即签署该文件。",
    "review.text.plain": "发送前请检查您的签名。",
    "review.image": "您的签名",
    "review.confirm": "确认并签署", "review.change": "修改签名",
    "cancel": "取消", "cancel.done": "未签署任何内容。在链接过期前，您可以再次打开此链接。",
    "decline": "拒绝签署", "decline.reason": "原因（可选）",
    "decline.confirm": "确定拒绝", "decline.keep": "不，返回",
    "decline.ask": "确定拒绝签署吗？发件人会收到通知，此链接将失效。",
    "send.busy": "正在发送您的签名…请稍候。",
    "send.retry": "重试",
    "err.network": "无法连接服务器。您的签名已保留：联网后请重试。",
    "err.timeout": "服务器未及时响应。您的签名已保留：请重试。",
    "err.server": "服务器暂时无法接收签名（错误 {status}）。您的签名已保留：请重试。",
    "err.toolarge": "签名过大，无法发送。请清除后重新签一个短一些的签名。",
    "err.gone": "此链接已过期或已被使用。请向发件人索取新链接。",
    "err.invalid": "无法读取签名（{detail}）。请清除后重新签名。",
    "err.enrol": "其中一个签名与其他签名差别太大（{detail}）。请重新签名。",
    "out.signed": "已签署 — 您可以下载您的副本。",
    "out.signed.plain": "谢谢 — 已收到您的签名。",
    "out.enrolled": "谢谢 — 已收到您的签名。",
    "out.typed": "已记录您以键入姓名表示的同意。发件人会将文件发送给您。",
    "out.declined": "您已拒绝签署，发件人已收到通知。",
    "out.download": "下载已签署的文件（PDF）",
    "con.title": "柜员控制台",
    "con.intro": "请客户在自己的手机上签署文件，登记并核验他们的签名。本页面供工作人员使用。",
    "con.key.heading": "您的操作员密钥",
    "con.key.label": "操作员 API 密钥",
    "con.key.help": "操作员密钥由管理员签发（inkwitness keys create --scopes operator），仅保存在当前浏览器标签页中。",
    "con.subject.heading": "1. 签名人",
    "con.subject.help": "“签名人”（subject）是签名的人：其登记的签名保存在同一个编号下。",
    "con.subject.name": "全名", "con.subject.ref": "您的参考号（客户编号，可选）",
    "con.subject.create": "登记新签名人", "con.subject.id": "签名人编号",
    "con.subject.created": "已登记签名人：{id}",
    "con.pad.heading": "2. 现场登记或核验",
    "con.pad.help": "登记时保存 5 个签名作为该签名人的参考签名；核验时将一个新签名与参考签名比对。",
    "con.mode.label": "签名的用途",
    "con.mode.enrol": "登记（5 个签名）", "con.mode.verify": "核验（1 个签名）",
    "con.pad.label": "供现场签名人使用的签名框",
    "con.pad.submit": "提交",
    "con.enrolled": "已用 {n} 个签名完成登记。",
    "con.enrol.link": "发送登记链接",
    "con.enrol.link.help": "也可以让签名人在自己的手机上登记：链接会请其签名 5 次。",
    "con.link.requester": "请求人（可选，向签名人显示）",
    "con.link.reason": "原因（可选，向签名人显示）",
    "con.result.genuine": "与登记的签名一致。",
    "con.result.forgery": "与登记的签名不一致。",
    "con.result.replay": "已拒绝：这是已存储签名的副本（可能为重放）。",
    "con.result.score": "得分 {score}（阈值 {threshold}）。",
    "con.reasons": "原因：",
    "con.req.heading": "3. 请求签署文件",
    "con.req.file": "文件（PDF）", "con.req.choose": "选择 PDF 文件…", "con.req.nofile": "未选择文件",
    "con.req.requester": "请求人（您的姓名或部门）",
    "con.req.reason": "需要签名的原因", "con.req.signer": "向签名人显示的姓名",
    "con.req.page": "签名栏所在页（留空：最后一页）",
    "con.req.box": "签名栏 x1,y1,x2,y2（PDF 点；留空：右下角）",
    "con.req.create": "创建签名链接",
    "con.pick.help": "在页面上拖出一个矩形作为签名位置（或在上方输入签名栏坐标）。",
    "con.pick.page": "第 {n} 页，共 {total} 页：拖动以放置签名栏。",
    "con.req.link": "签名链接（仅可使用一次）：",
    "con.req.qr": "签名链接的二维码",
    "con.req.status": "状态：{state}",
    "state.open": "等待签名人", "state.viewed": "签名人已打开", "state.signed": "已签署",
    "state.typed": "已以键入姓名表示同意（证据效力较低）", "state.declined": "已拒绝",
    "con.req.sealed": "已封存的 PDF", "con.req.evidence": "证据包（ZIP）", "con.req.report": "报告（PDF）",
    "con.req.verification": "核验：{text}",
    "con.req.notenrolled": "未核验：该签名人尚未登记",
    "con.busy": "处理中…",
    "con.list.heading": "最近的签名请求", "con.list.refresh": "刷新", "con.list.document": "文件",
    "con.list.signer": "签名人", "con.list.created": "创建时间", "con.list.state": "状态", "con.list.open": "打开",
    "con.list.show": "查看",
    "con.err": "错误：{detail}",
    "reason.trajectory": "笔画形状和运动与最接近的参考签名差异较大，超出此人签名之间的正常差异。",
    "reason.rhythm": "书写节奏与参考签名不同。",
    "reason.replay": "这是已存储签名的副本。",
    "reason.feature": "“{feature}”的数值对此人而言不寻常。",
  },
};

const KEY = "inkwitness-lang";
let current = null;
const listeners = [];

/** The language to start in: remembered choice, else the browser's language (zh* -> zh). */
function stored() {
  try { return localStorage.getItem(KEY); } catch (_) { return null; }   // storage may be blocked
}

export function initialLang() {
  const saved = stored();
  if (saved === "zh" || saved === "en") return saved;
  const langs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || "en"];
  return String(langs[0]).toLowerCase().startsWith("zh") ? "zh" : "en";
}

export function lang() { return current; }

/** A string in the current language, with {name} placeholders filled. */
export function t(key, vars = {}) {
  const table = STRINGS[current] || STRINGS.en;
  const text = table[key] ?? STRINGS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, k) => (vars[k] ?? `{${k}}`));
}

/** Translate every marked element under ``root``. */
export function apply(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of el.dataset.i18nAttr.split(";")) {
      const [attr, key] = pair.split(":");
      el.setAttribute(attr.trim(), t(key.trim()));
    }
  }
}

export function setLang(value, remember = true) {
  current = value === "zh" ? "zh" : "en";
  if (remember) { try { localStorage.setItem(KEY, current); } catch (_) { /* not remembered */ } }
  document.documentElement.lang = current === "zh" ? "zh-CN" : "en";
  apply();
  for (const fn of listeners) fn(current);
}

export function onLang(fn) { listeners.push(fn); }

/** Wire a switch button and start in the initial language. */
export function setup(button) {
  setLang(initialLang(), false);
  if (button) button.addEventListener("click", () => setLang(current === "zh" ? "en" : "zh"));
}
