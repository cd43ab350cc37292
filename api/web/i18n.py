"""The explorer's labels in English and Chinese, and how a request's language is chosen.

`?lang=zh|en` wins (and is remembered in a cookie), then the cookie, then Accept-Language, then
English. Only labels are translated: names, titles and statements stay as their authors wrote them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

Lang = Literal["en", "zh"]
LANGS: tuple[Lang, ...] = ("en", "zh")
LANG_COOKIE = "dl_lang"
HTML_LANG: dict[Lang, str] = {"en": "en", "zh": "zh-Hans"}
# Each language's switcher link names the language in that language.
LANG_NAMES: dict[Lang, str] = {"en": "English", "zh": "中文"}

# key -> (English, Chinese)
_MESSAGES: dict[str, tuple[str, str]] = {
    # chrome
    "site.name": ("dataledger explorer", "数据账本浏览器"),
    "site.tagline": (
        "A data-asset registry and licence market on a signed, append-only log",
        "基于签名、只追加日志的数据资产登记与许可交易平台",
    ),
    "skip": ("Skip to main content", "跳到主要内容"),
    "nav.label": ("Main", "主导航"),
    "nav.catalog": ("Catalog", "资产目录"),
    "nav.log": ("Log", "日志"),
    "nav.regulator": ("Regulator", "监管"),
    "nav.signin": ("Sign in", "登录"),
    "lang.label": ("Language", "语言"),
    "session.as": ("Signed in as", "当前登录"),
    "session.signout": ("Sign out", "退出登录"),
    "session.anonymous": ("Not signed in", "未登录"),
    # Replaced by the script with what it checked against what; without it, nothing was.
    "footer.verify": (
        "Receipts on this page are verified only by the explorer's script in your browser, "
        "against a log key you pin; until it has run, nothing on this page has been verified.",
        "本页收据只由浏览器中的本站脚本使用您固定的日志公钥验证;脚本运行之前,本页内容均未经验证。",
    ),
    "footer.api": ("JSON API", "JSON 接口"),
    # receipts and actions
    "receipt.unverified": ("not yet verified in your browser", "尚未在您的浏览器中验证"),
    "receipt.label": ("Receipt", "收据"),
    "receipt.entry": ("entry", "条目"),
    "receipt.open": ("open entry", "查看条目"),
    "action.needs_js": (
        "This action needs JavaScript: the statement is signed in your browser with your key, "
        "which never leaves this page.",
        "此操作需要 JavaScript:声明在您的浏览器中用您的密钥签名,密钥不会离开本页面。",
    ),
    "action.signin_first": ("Sign in to act on this.", "登录后可进行此操作。"),
    "action.submit": ("Sign and submit", "签名并提交"),
    # generic
    "none": ("none", "无"),
    "yes": ("yes", "是"),
    "no": ("no", "否"),
    "unlimited": ("unlimited", "不限"),
    "more": ("Next page", "下一页"),
    "first": ("First page", "第一页"),
    "older": ("Older entries", "更早的条目"),
    "newer": ("Newest entries", "最新条目"),
    "index": ("Index", "序号"),
    "kind": ("Kind", "类型"),
    "time": ("Time", "时间"),
    "signer": ("Signer", "签名者"),
    "status": ("Status", "状态"),
    "party": ("Party", "主体"),
    "amount": ("Amount", "金额"),
    "day": ("Day", "日期"),
    "month": ("Month", "月份"),
    "units": ("Units", "用量"),
    "the_log": ("the ledger (log key)", "账本(日志密钥)"),
    "unknown_key": ("unknown key", "未知密钥"),
    "table.data": ("Data table", "数据表"),
    "chart.show_table": ("Show the figures as a table", "以表格显示数据"),
    # catalog
    "catalog.title": ("Data-asset catalog", "数据资产目录"),
    "catalog.search": ("Search", "搜索"),
    "catalog.q": ("Text in title or description", "标题或描述中的文字"),
    "catalog.any": ("any", "全部"),
    "catalog.filter": ("Search", "搜索"),
    "catalog.results": ("Assets, newest first", "资产(按登记时间倒序)"),
    "catalog.empty": ("No asset matches.", "没有符合条件的资产。"),
    "catalog.owner": ("Owner (party id)", "所有者(主体 ID)"),
    "field.title": ("Title", "标题"),
    "field.description": ("Description", "描述"),
    "field.category": ("Category", "类别"),
    "field.classification": ("Classification", "分级"),
    "field.personal_info": ("Personal information", "个人信息"),
    "field.owner": ("Owner", "所有者"),
    "field.registered": ("Registered", "登记时间"),
    "field.fingerprint": ("Fingerprint (SHA-256)", "数据指纹(SHA-256)"),
    "field.size": ("Size", "大小"),
    "field.records": ("Records", "记录数"),
    "field.version": ("Version", "版本"),
    "field.notice_ends": ("Public notice ends", "公示截止"),
    "field.certified_entry": ("Certified by entry", "认证条目"),
    "field.status_reason": ("Reason", "原因"),
    "field.committed": (
        "private: on the log only as a commitment; its parties and regulators can open it",
        "非公开:日志上只有承诺值,当事方和监管机构可以打开",
    ),
    "field.frozen": ("Frozen by a regulator", "已被监管冻结"),
    "field.conflict": ("Conflicting claim on this fingerprint", "该指纹存在冲突登记"),
    "field.declared_cost": ("Declared cost", "申报成本"),
    "field.quality": ("Quality (self-assessed)", "质量(自评)"),
    "field.schema": ("Schema", "数据结构"),
    "field.private": (
        "Private fields (you see them as the owner, a regulator or the operator)",
        "非公开信息(您作为所有者、监管者或运营方可见)",
    ),
    # statuses and enumerations
    "st.on_notice": ("on public notice", "公示中"),
    "st.certified": ("certified", "已认证"),
    "st.rejected": ("rejected", "已驳回"),
    "st.frozen": ("frozen", "已冻结"),
    "st.open": ("open", "进行中"),
    "st.upheld": ("upheld", "成立"),
    "st.dismissed": ("dismissed", "驳回"),
    "st.withdrawn": ("withdrawn", "已撤回"),
    "st.requested": ("requested", "已申请"),
    "st.awaiting_regulator": ("awaiting a regulator", "待监管审批"),
    "st.active": ("active", "生效中"),
    "st.revoked": ("revoked", "已撤销"),
    "st.terminated": ("terminated", "已终止"),
    "st.expired": ("expired", "已到期"),
    "st.exhausted": ("quota used up", "额度已用尽"),
    "st.recorded": ("recorded", "已登记"),
    "st.confirmed": ("confirmed", "已确认"),
    "st.answered": ("answered", "已答复"),
    "st.resolved": ("resolved", "已裁决"),
    "st.offered": ("offered", "已提出"),
    "st.accepted": ("accepted", "已接受"),
    "cls.general": ("general", "一般数据"),
    "cls.important": ("important", "重要数据"),
    "cls.core": ("core", "核心数据"),
    "pi.none": ("none", "不含"),
    "pi.anonymized": ("anonymized", "已匿名化"),
    "pi.personal": ("personal", "个人信息"),
    "pi.sensitive_personal": ("sensitive personal", "敏感个人信息"),
    "right.holding": ("Holding right", "持有权"),
    "right.processing": ("Processing/use right", "加工使用权"),
    "right.operation": ("Product operation right", "产品经营权"),
    "sev.info": ("info", "提示"),
    "sev.warning": ("warning", "警告"),
    "sev.high": ("high", "严重"),
    # asset page
    "asset.overview": ("Overview", "概况"),
    "asset.lineage": ("Lineage and versions", "血缘与版本"),
    "asset.derived_from": ("Derived from", "来源资产"),
    "asset.derived_into": ("Used to derive", "派生资产"),
    "asset.lineage_unconfirmed": (
        "unconfirmed (not accepted by the parent's owner)",
        "未经来源资产所有者确认",
    ),
    "asset.confirm_lineage": ("Confirm this lineage", "确认此血缘关系"),
    "asset.versions": ("Versions", "版本"),
    "asset.note": ("Note", "说明"),
    "asset.rights": ("Rights holders", "权利人"),
    "asset.right": ("Right", "权利"),
    "asset.holder": ("Holder", "持有者"),
    "asset.since": ("Since entry", "起始条目"),
    "asset.transfers": ("Transfers", "权利转让"),
    "asset.from": ("From", "转出方"),
    "asset.to": ("To", "转入方"),
    "asset.notice": ("Public notice and objections", "公示与异议"),
    "asset.notice_open": ("On public notice until", "公示期至"),
    "asset.notice_closed": ("The public notice is over.", "公示期已结束。"),
    "asset.objections_none": ("No objection was filed.", "没有异议。"),
    "asset.objector": ("Objector", "异议人"),
    "asset.grounds": ("Grounds", "理由"),
    "asset.outcome": ("Outcome", "结果"),
    "asset.object": ("Object to this registration", "对此登记提出异议"),
    "asset.evidence": ("Evidence fingerprint (SHA-256, optional)", "证据指纹(SHA-256,可选)"),
    "asset.resolve": ("Resolve this objection", "裁决此异议"),
    "asset.reason": ("Reason", "理由"),
    "asset.offers": ("Offers", "许可要约"),
    "asset.offers_none": ("No open offer.", "暂无有效要约。"),
    "asset.offer": ("Offer", "要约"),
    "asset.actions": ("Actions", "允许的行为"),
    "asset.purposes": ("Purposes", "用途"),
    "asset.term": ("Term (days)", "期限(天)"),
    "asset.territory": ("Territory", "地域"),
    "asset.max_units": ("Units at most", "用量上限"),
    "asset.pricing": ("Pricing", "定价"),
    "asset.exclusive": ("Exclusive", "独占"),
    "asset.request": ("Request a licence", "申请许可"),
    "asset.purpose": ("Purpose", "用途"),
    "asset.territory_input": (
        "Territory (country codes, comma-separated)",
        "地域(国家代码,逗号分隔)",
    ),
    "asset.units_input": ("Units (empty: the offer's maximum)", "用量(留空:按要约上限)"),
    "asset.lawful_basis": ("Lawful basis (personal data)", "合法性基础(个人信息)"),
    "asset.certificate": ("Certificate", "登记证书"),
    "asset.certificate_link": ("Printable certificate", "可打印的登记证书"),
    "asset.certificate_none": (
        "A certificate is issued once the asset is certified.",
        "资产认证后签发登记证书。",
    ),
    "asset.valuation": ("Valuation", "估值"),
    "asset.valuation_terms": (
        "Indicative value of a one-year, non-exclusive, unlimited licence for analytics.",
        "一年期、非独占、不限用量的分析用途许可的参考价值。",
    ),
    "asset.valuation_none": ("No valuation yet.", "暂无估值。"),
    "asset.valuation_pending": (
        "The valuation model is being fitted; reload the page later.",
        "估值模型正在拟合,请稍后刷新页面。",
    ),
    "asset.valuation_unavailable": (
        "The ledger has too little trading history to value licences yet.",
        "账本的交易历史尚不足以估值。",
    ),
    "asset.value": ("Value", "估值"),
    "asset.interval": ("90 % interval", "90% 区间"),
    "asset.interval_too_wide": (
        "too little comparable history for a useful range",
        "可比交易历史太少, 无法给出有用的区间",
    ),
    "asset.comparables": ("Comparable trades", "可比交易"),
    "asset.model_as_of": ("Model as of", "模型截至"),
    "asset.timeline": ("Timeline", "时间线"),
    "asset.timeline_note": (
        "Every entry about this asset, its usage reports among them, newest first, each with "
        "its receipt.",
        "与该资产有关的全部条目(含用量报告,最新在前),每条附收据。",
    ),
    "asset.open_disputes": ("Open disputes", "未决争议"),
    # party page
    "party.title": ("Party", "主体"),
    "party.id": ("Party id", "主体 ID"),
    "party.keys": ("Keys", "密钥"),
    "party.keyid": ("Key id", "密钥 ID"),
    "party.added": ("Added by entry", "添加条目"),
    "party.revoked": ("Revoked by entry", "撤销条目"),
    "party.roles": ("Roles", "角色"),
    "party.role.regulator": ("regulator", "监管者"),
    "party.role.witness": ("witness", "见证者"),
    "party.name_shared": ("(name shared with another party)", "(与其他主体同名)"),
    "party.name_shared_note": (
        "Another party is registered under the same name: tell them apart by their roles and "
        "id, never by the name.",
        "另有主体以相同名称注册:请以角色和 ID 区分,切勿仅凭名称。",
    ),
    "party.commitment": ("Contact commitment", "联系方式承诺"),
    "party.contact": ("Contact details", "联系方式"),
    "party.contact_private": (
        "Contact details are personal information: shown to the party itself, regulators and "
        "the operator only.",
        "联系方式属于个人信息,仅本人、监管者和运营方可见。",
    ),
    "party.email": ("Email", "电子邮件"),
    "party.phone": ("Phone", "电话"),
    "party.address": ("Address", "地址"),
    "party.assets": ("Assets owned", "拥有的资产"),
    "party.licences": ("Licences", "许可"),
    "party.licences_private": (
        "Licences are shown to the party itself and regulators.",
        "许可信息仅本人和监管者可见。",
    ),
    "party.registration": ("Registration", "注册"),
    # licence page
    "licence.title": ("Licence", "许可"),
    "licence.terms": ("Terms", "条款"),
    "licence.buyer": ("Licensee (buyer)", "被许可方(买方)"),
    "licence.seller": ("Licensor (seller)", "许可方(卖方)"),
    "licence.asset": ("Asset", "资产"),
    "licence.offer": ("Offer", "要约"),
    "licence.price": ("Agreed price", "约定价格"),
    "licence.starts": ("Starts", "开始"),
    "licence.ends": ("Ends", "结束"),
    "licence.sublicensable": ("Sublicensable", "可转许可"),
    "licence.used": ("Units used", "已用量"),
    "licence.usage": ("Usage over time", "用量趋势"),
    "licence.usage_none": ("No usage reported yet.", "尚无用量报告。"),
    "licence.usage_chart": ("Cumulative units used against the quota", "累计用量与额度"),
    "licence.usage_desc": (
        "Cumulative units reported per day; the dashed line is the quota.",
        "按日累计的报告用量;虚线为额度上限。",
    ),
    "licence.quota": ("Quota", "额度"),
    "licence.payments": ("Payments", "付款"),
    "licence.payments_none": ("No payment recorded.", "尚无付款记录。"),
    "licence.paid": ("Paid (recorded)", "已付(登记)"),
    "licence.confirmed": ("Confirmed", "已确认"),
    "licence.reference": ("Reference", "备注"),
    "licence.disputes": ("Disputes", "争议"),
    "licence.disputes_none": ("No dispute.", "无争议。"),
    "licence.opened_by": ("Opened by", "发起方"),
    "licence.decision": ("Decision", "裁决"),
    "licence.answer": ("Answer", "答复"),
    "licence.approve": ("Approve this licence", "批准此许可"),
    "licence.price_minor": ("Price in minor units (e.g. fen)", "价格(最小货币单位,如分)"),
    "licence.currency": ("Currency", "币种"),
    "licence.regulator_approve": ("Approve as regulator (important data)", "监管审批(重要数据)"),
    "licence.receipts": ("Entries of this licence", "此许可的条目"),
    "licence.receipts_note": (
        "Its request, approval, usage reports, payments and disputes, newest first, each with "
        "its receipt.",
        "其申请、批准、用量报告、付款与争议(最新在前),每条附收据。",
    ),
    "licence.forbidden": (
        "A licence is visible to its buyer, its seller and regulators only.",
        "许可仅对买方、卖方和监管者可见。",
    ),
    "licence.signin": (
        "Sign in as the buyer, the seller or a regulator to see this licence.",
        "请以买方、卖方或监管者身份登录查看此许可。",
    ),
    # log pages
    "log.title": ("The log", "日志"),
    "log.checkpoint": ("Current checkpoint", "当前检查点"),
    "log.size": ("Tree size", "树大小"),
    "log.root": ("Root hash", "根哈希"),
    "log.cosignatures": ("Witness cosignatures", "见证者联署"),
    "log.cosignatures_none": ("No witness has cosigned this checkpoint yet.", "尚无见证者联署。"),
    "log.key": ("Log verifier key", "日志验证公钥"),
    "log.latest": ("Latest entries", "最新条目"),
    "log.empty": ("The log is empty.", "日志为空。"),
    "entry.title": ("Entry", "条目"),
    "entry.envelope": ("DSSE envelope", "DSSE 信封"),
    "entry.payload_type": ("Payload type", "载荷类型"),
    "entry.signatures": ("Signatures", "签名"),
    "entry.statement": ("Statement", "声明"),
    "entry.integrated": ("Integrated at", "入账时间"),
    "entry.leaf": ("Leaf hash", "叶哈希"),
    "entry.creates": ("Creates", "创建"),
    "entry.refers": ("Refers to", "涉及"),
    "entry.prev": ("Previous entry", "上一条"),
    "entry.next": ("Next entry", "下一条"),
    # regulator
    "reg.title": ("Regulator dashboard", "监管看板"),
    "reg.alerts": ("Alerts", "预警"),
    "reg.alerts_none": ("No alert.", "无预警。"),
    "reg.severity": ("Severity", "级别"),
    "reg.reason": ("Reason", "原因"),
    "reg.evidence": ("Evidence (entries)", "证据(条目)"),
    "reg.subject": ("Concerns", "涉及"),
    "reg.kind_pick": ("Kind of alert", "预警类型"),
    "reg.more_alerts": ("Show more alerts", "显示更多预警"),
    "reg.refusals": ("Refused statements", "被拒绝的声明"),
    "reg.computed": ("Computed at", "计算时间"),
    "reg.computing": (
        "Being computed in the background; reload the page in a moment.",
        "正在后台计算,请稍后刷新页面。",
    ),
    "reg.failed": ("Could not be computed:", "计算失败:"),
    "reg.stats": ("Market statistics", "市场统计"),
    "reg.stats_none": ("No confirmed transaction yet.", "尚无已确认的交易。"),
    "reg.category_pick": ("Category", "类别"),
    "reg.show": ("Show", "显示"),
    "reg.price_index": ("Price index", "价格指数"),
    "reg.price_index_desc": (
        "Chained index of the median unit price, 100 in the category's first month.",
        "单位价格中位数的链式指数,类别首月为 100。",
    ),
    "reg.volume": ("Volume", "交易量"),
    "reg.volume_desc": (
        "Value of confirmed payments per month, in the payments' currency.",
        "每月已确认付款总额(按付款币种)。",
    ),
    "reg.licences": ("Licences", "许可数"),
    "reg.value": ("Value", "金额"),
    "reg.concentration": ("Concentration", "集中度"),
    "reg.concentration_desc": (
        "Herfindahl-Hirschman index of sellers' and buyers' value shares (0 to 10,000).",
        "卖方与买方金额份额的赫芬达尔-赫希曼指数(0 至 10000)。",
    ),
    "reg.hhi_sellers": ("HHI sellers", "卖方 HHI"),
    "reg.hhi_buyers": ("HHI buyers", "买方 HHI"),
    "reg.personal_share": ("Personal-data share", "个人信息占比"),
    "reg.forbidden": (
        "The regulator dashboard is for regulators and the operator only.",
        "监管看板仅对监管者和运营方开放。",
    ),
    # sign-in
    "signin.title": ("Sign in with your key file", "使用密钥文件登录"),
    "signin.intro": (
        "Choose your key file. Your browser signs a login statement with it; the key never "
        "leaves this page, and the server only sees the signature.",
        "选择您的密钥文件。浏览器用它签署登录声明;密钥不会离开本页面,服务器只会看到签名。",
    ),
    "signin.keyfile": ("Key file", "密钥文件"),
    "signin.submit": ("Sign in", "登录"),
    "signin.needs_js": (
        "Signing in needs JavaScript: the key never leaves your browser, so your browser has to "
        "do the signing.",
        "登录需要 JavaScript:密钥不会离开您的浏览器,因此必须由浏览器完成签名。",
    ),
    "signin.reads_only": (
        "Signing in lets these pages show what you may read. Every change is still a statement "
        "signed in your browser.",
        "登录后页面会显示您有权查看的内容。任何变更仍须由您在浏览器中签名。",
    ),
    "signin.current": ("You are signed in as", "您当前登录为"),
    # errors
    "error.title": ("Error", "错误"),
    "error.404": ("Not found", "未找到"),
    "error.403": ("Forbidden", "无权访问"),
    "error.401": ("Sign in needed", "需要登录"),
    "error.400": ("Bad request", "请求有误"),
    "error.500": ("Something went wrong", "出现错误"),
    "error.home": ("Back to the catalog", "返回资产目录"),
    "error.no_page": (
        "There is no page at this address. Check it for a typing mistake, or start from the "
        "catalog.",
        "此地址没有页面。请检查是否输入有误,或从资产目录开始。",
    ),
    "error.signin": ("Sign in", "登录"),
}

MESSAGES: dict[Lang, dict[str, str]] = {
    "en": {k: v[0] for k, v in _MESSAGES.items()},
    "zh": {k: v[1] for k, v in _MESSAGES.items()},
}

Translator = Callable[[str], str]


def translator(lang: Lang) -> Translator:
    """`t(key)`: the label in `lang`; an unknown key shows itself, so a gap is visible."""
    table = MESSAGES[lang]
    return lambda key: table.get(key, key)


def parse_lang(value: str | None) -> Lang | None:
    if value is None:
        return None
    value = value.strip().lower()
    if value in ("zh", "zh-hans", "zh-cn", "zh_cn"):
        return "zh"
    if value == "en":
        return "en"
    return None


def from_accept_language(header: str | None) -> Lang | None:
    """The first supported language in an Accept-Language header, by quality (RFC 9110)."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and quality > 0:
            ranked.append((-quality, position, tag.strip().lower()))
    for _, _, tag in sorted(ranked):
        primary = tag.split("-")[0]
        if primary in ("zh", "en"):
            return "zh" if primary == "zh" else "en"
    return None


def negotiate(query: str | None, cookie: str | None, accept_language: str | None) -> Lang:
    return parse_lang(query) or parse_lang(cookie) or from_accept_language(accept_language) or "en"
