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
