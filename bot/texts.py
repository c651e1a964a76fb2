"""Staff-facing texts, simplified Chinese, each short enough for one phone screen."""
from __future__ import annotations

UNBOUND = "你还没有绑定身份。\n请回复「绑定 绑定码」，绑定码由本单位管理员发放。"
WELCOME = "欢迎关注！回复「打卡」查看清单，回复「帮助」查看全部指令。"
HINT = "没看懂这条消息。回复「帮助」查看可用指令。"
VOICE_UNHEARD = "没听清这条语音，请发文字，如「打卡 1」。"
ONE_AT_A_TIME = "一次记录一项，请分开发送，如「{command} {n}」。"
APOLOGY = "抱歉，系统出了点问题，请稍后再试。"
QUEUED = "已收到，系统繁忙，稍后自动处理，无需重发。回复「进度」可查看结果。"
REFUSED = "抱歉，统计仅对组织者和部门负责人开放。"

LOGIN_LINK = "点此登录后台（{minutes}分钟内有效，仅限一次，请勿转发）：\n{url}"
LOGIN_CONFIRMED = "已确认登录，电脑上的页面将自动进入后台。"
LOGIN_QR_EXPIRED = "这个登录二维码已失效，请在电脑上刷新页面后重新扫码。"

BIND_OK = "绑定成功：{dept} {name}。\n回复「打卡」查看清单。"
BIND_ALREADY = "你已绑定为 {dept} {name}，无需重复绑定。"
BIND_INVALID = "绑定码无效，请核对后重试（8位，不含0、O、1、I、L）。"
BIND_USED = "此绑定码已被使用。如非本人使用，请联系管理员重新发放。"
BIND_EXPIRED = "此绑定码已过期，请联系管理员重新发放。"
BIND_LEFT = "此绑定码对应的人员已不在活动名单中，如有疑问请联系管理员。"
OFF_ROSTER = "你已不在本单位活动名单中，打卡暂停。如有疑问请联系管理员。"
BIND_LOCKED = "尝试次数过多，请 {minutes} 分钟后再试。"
BIND_TAKEN = "此微信已绑定 {name}，一个微信只能绑定一人。如需换绑请联系管理员。"
BIND_USAGE = "请回复「绑定 绑定码」，例如：绑定 AB3D5F7H"

HELP = (
    "打卡：查看「{main}」清单\n"
    "打卡 2 或 {example}：记录一项\n"
    "撤销 2：撤销自己的打卡\n"
    "进度：我的进度和本部门参与率\n"
    "照片或视频：作为刚记录一项的凭证（可不发）\n"
    "{others}"
)
HELP_OTHERS = "其他清单：{examples}"
HELP_STATS = "统计：{scope}参与情况（统计 {example}：其他清单）"
HELP_COLLECTIVE = "集体打卡 1：{scope}一次集体活动，记入参加的人"

LIST_HEAD = "「{checklist}」打卡（已完成 {done}/{total}）"
LIST_FOOT_MAIN = "回复序号打卡，如「{n}」"
LIST_FOOT_OTHER = "回复「{short} 序号」打卡，如「{short} {n}」"
LIST_CLOSED = "本清单开放时间：{opens}—{closes}，届时再打卡"
LIST_EVIDENCE = "（需照片）"

RECORDED = "✅ 已记录：{item}\n「{checklist}」已完成 {done}/{total}"
ALREADY = "「{item}」已打过卡，无需重复。\n「{checklist}」已完成 {done}/{total}"
ADD_EVIDENCE = "如需补充凭证，30分钟内直接发送照片即可。"
EXEMPT_NOTE = "你目前为免除人员，打卡会保留，但不计入统计。"
ALL_DONE = "🎉「{checklist}」全部完成，谢谢参与！"
UNDONE = "已撤销：{item}\n「{checklist}」已完成 {done}/{total}"
UNDONE_EVIDENCE = "（凭证一并删除）"
NOT_DONE = "「{item}」还没有打卡，无需撤销。"
UNDO_USAGE = "请回复「{command} 序号」，如「{command} {n}」。"
NOTHING_TO_UNDO = "「{checklist}」还没有打卡记录，无需撤销。"
NO_SUCH_ITEM = "「{checklist}」里没有「{word}」。回复「{command}」查看清单。"
OUT_OF_RANGE = "「{checklist}」共 {total} 项，请回复 1—{total} 的序号，如「{command} 1」。"
IN_OTHER = "「{word}」在「{checklist}」里，请回复「{short} {word}」。"
CLOSED = "「{checklist}」不在开放期（{opens}—{closes}），暂不能打卡。"
CLOSED_UNDO = "「{checklist}」不在开放期（{opens}—{closes}），暂不能撤销。"
NEED_EVIDENCE = "「{item}」需要凭证：请在30分钟内直接发送照片或视频，收到即记为完成。"

EVIDENCE_SAVED = "{kind}已作为「{item}」的凭证存档。"
EVIDENCE_SAVED_ACTIVITY = "{kind}已作为集体打卡「{item}」的凭证存档，记入的每个人都有了这份凭证。"

COLLECTIVE_START = ("集体打卡：{dept}「{item}」。\n请回复参加人员：「全部」（本部门 {n} 人），或姓名、手机号，"
                    "用空格或顿号分开。回复「取消」放弃。")
COLLECTIVE_CREDITED = "将记入 {n} 人：{names}"
COLLECTIVE_KEPT = "已打过卡的 {n} 人保留原记录并补充凭证：{names}"
COLLECTIVE_UNKNOWN = "本部门没有：{words}"
COLLECTIVE_AMBIGUOUS = "有 {n} 人叫{name}（{phones}），请改用手机号"
COLLECTIVE_CONFIRM = "回复「确认」记入，或重新发送名单。"
COLLECTIVE_NOBODY = "名单里没有可以记入的人，请重新发送，或回复「取消」。"
COLLECTIVE_LIST_FIRST = "请先回复参加人员名单（或「全部」），再「确认」。"
COLLECTIVE_DONE = ("已记入：{dept}「{item}」{n} 人（集体打卡 {id} 号）。\n30分钟内发送照片即作为全体的凭证；"
                   "撤销请回复「撤销集体 {id}」。")
COLLECTIVE_CANCELLED = "已取消这次集体打卡，没有记入任何人。"
COLLECTIVE_UNDONE = "已撤销集体打卡 {id} 号：{dept}「{item}」。"
COLLECTIVE_REFUSED = "集体打卡仅限部门负责人（本部门）和组织者。"
COLLECTIVE_NAME_DEPT = "请写明部门，如「集体打卡 {example} 1」。"
COLLECTIVE_OWN_DEPT = "部门负责人只能为本部门集体打卡。"
COLLECTIVE_NOT_YOURS = "只能撤销自己记录的集体打卡（组织者可撤销全部）。"
COLLECTIVE_NO_SUCH = "没有编号为 {n} 的集体打卡。请回复「撤销集体 编号」。"
COLLECTIVE_USAGE = "请回复「集体打卡 序号」，如「集体打卡 1」或「集体打卡 {short} 1」。"
COLLECTIVE_ONLY = "「{checklist}」由部门负责人集体打卡，请联系本部门负责人。"
EVIDENCE_NO_TARGET = "{kind}未存为凭证：先回复要存的那一项（如「打卡 1」，已完成的也可以），再发{kind}。"
EVIDENCE_KINDS = {"image": "照片", "video": "视频", "shortvideo": "视频", "voice": "语音", "text": "文字"}

PROGRESS_HEAD = "{name}的进度"
PROGRESS_LINE = "「{checklist}」已完成 {done}/{total}"
PROGRESS_DEPT = "本部门「{checklist}」参与率 {rate}（{participants}/{eligible}）"

STATS_HEAD = "「{checklist}」参与率 {rate}（{participants}/{eligible}），目标 {target}"
STATS_DONE = "完成全部项目 {rate}（{completed}/{eligible}）"
STATS_LOWEST = "参与率最低的部门（未达目标）："
STATS_ALL_MET = "各部门参与率均已达到目标。"
STATS_LOST = "另有 {lost} 份凭证未能存档（微信已删除或文件过大）。"
NO_SUCH_CHECKLIST = "没有「{word}」清单。可统计：{names}，如「统计 {example}」。"
STATS_DEPT = "{n}. {name} {rate}（{participants}/{eligible}）"
STATS_LEADER_HEAD = "{dept}「{checklist}」参与率 {rate}（{participants}/{eligible}），目标 {target}"
STATS_PENDING = "尚未参与（{count}人）：{names}"
STATS_NONE_PENDING = "本部门人人已参与。"


def pct(rate: float) -> str:
    """A rate as a percentage rounded down to 0.1 (rates are already rounded down)."""
    tenths = round(rate * 10000) // 10
    whole, tenth = divmod(tenths, 10)
    return f"{whole}%" if tenth == 0 else f"{whole}.{tenth}%"
