"""A reporter's private conversation with the bot, as a pure state machine.

Modes and what moves between them:

=============  ===========================================================  ======================
mode           waits for                                                    leaves to
=============  ===========================================================  ======================
idle           a command, a menu button, or a follow-up to an open case     any mode below
language       the reporter's language (asked once when the platform        idle (then replays the
               does not tell us)                                            message that came first)
report         an answer to the current guided-report step                  idle (filed/cancelled)
resume         "continue my draft" or "start over"                          report
quick          optional questions after a quick report                      idle
location       where the reporter is, after an emergency                    idle
which-case     which open case a follow-up belongs to                       idle
forget         confirmation before erasing personal data                    idle
=============  ===========================================================  ======================

The emergency button, the ``emergency``/``sos`` command and the space's code word take the fast
track from every mode, with whatever the draft holds so far.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from bot.domain.ids import CaseRef
from bot.domain.model import Attachment, Case, Category, Contact, Role, Source, Urgency
from bot.domain.reference import parse_reference
from bot.domain.space import Space
from bot.i18n import Renderable, lines, t
from bot.messages import (
    AttachmentReceived,
    ButtonRejected,
    ChatFact,
    ChoicePicked,
    CommandReceived,
    LocationShared,
    Origin,
    TextReceived,
    Undecryptable,
    Unsupported,
)
from flows import report, texts
from flows.common import (
    Action,
    AddToCase,
    Choice,
    Env,
    FileCase,
    Forget,
    Outcome,
    Prompt,
    Reply,
    Rows,
    SetLanguage,
    SignOff,
    UpdateCase,
    WithdrawCase,
    match_choice,
    normalise,
)


class Mode(StrEnum):
    IDLE = "idle"
    LANGUAGE = "language"
    REPORT = "report"
    RESUME = "resume"
    QUICK = "quick"
    LOCATION = "location"
    WHICH_CASE = "which-case"
    FORGET = "forget"
    SIGNOFF = "signoff"


QUICK_STEPS = ("offer", "role", "category", "involved", "contact")
#: Button keys honoured from any message in this chat, however old: an emergency never waits.
ALWAYS_VALID = frozenset({"sos"})


@dataclass(frozen=True, slots=True)
class Conversation:
    mode: Mode = Mode.IDLE
    question: int = 0
    draft: dict[str, Any] | None = None
    focus: CaseRef | None = None
    quick_step: str = ""
    held: tuple[str, ...] = ()
    offered: tuple[CaseRef, ...] = ()
    replay: dict[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode.value,
            "question": self.question,
            "draft": self.draft,
            "focus": self.focus,
            "quick_step": self.quick_step,
            "held": list(self.held),
            "offered": list(self.offered),
            "replay": self.replay,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Conversation:
        if not data:
            return cls()
        return cls(
            mode=Mode(data.get("mode", Mode.IDLE)),
            question=int(data.get("question", 0)),
            draft=data.get("draft"),
            focus=CaseRef(data["focus"]) if data.get("focus") else None,
            quick_step=data.get("quick_step", ""),
            held=tuple(data.get("held", ())),
            offered=tuple(CaseRef(r) for r in data.get("offered", ())),
            replay=data.get("replay"),
        )

    @property
    def has_draft(self) -> bool:
        return self.draft is not None


@dataclass(slots=True)
class _Turn:
    """Accumulates the actions of one step; a question bumps the question number."""

    conv: Conversation
    actions: list[Action] = field(default_factory=list)

    def say(self, text: Renderable) -> None:
        self.actions.append(Reply(text))

    def ask(self, prompt: Prompt, note: Renderable | None = None) -> None:
        self.conv = replace(self.conv, question=self.conv.question + 1)
        text = lines(note, prompt.text, sep="\n\n") if note is not None else prompt.text
        self.actions.append(Reply(text, prompt.rows))

    def done(self) -> Outcome:
        return Outcome(self.conv.to_json(), tuple(self.actions))


# --- entry point -----------------------------------------------------------------------------------


def handle(state: dict[str, Any] | None, fact: ChatFact, env: Env, *, ask_language: bool = False) -> Outcome:
    """One step of a reporter's conversation. ``ask_language`` asks first when the platform did
    not tell us the reporter's language (Matrix); the message is then replayed."""
    turn = _Turn(Conversation.from_json(state))
    if ask_language and turn.conv.mode != Mode.LANGUAGE and not _is_emergency(fact, env):
        turn.conv = replace(turn.conv, replay=_replayable(fact))
        _ask_language(turn, env, first=True)
        return turn.done()
    _dispatch(turn, fact, env)
    return turn.done()


def _dispatch(turn: _Turn, fact: ChatFact, env: Env) -> None:
    if isinstance(fact, TextReceived) and not fact.edited and _code_word(fact.text, env):
        _fast_track(turn, env, Source.CODE_WORD)
        return
    if isinstance(fact, TextReceived) and not fact.edited and _cry_for_help(fact.text, env):
        _fast_track(turn, env, Source.EMERGENCY)
        return
    if isinstance(fact, TextReceived) and turn.conv.mode == Mode.IDLE and normalise(fact.text) in BARE_COMMANDS:
        _command(turn, CommandReceived(fact.origin, normalise(fact.text)), env)
        return
    if isinstance(fact, CommandReceived):
        _command(turn, fact, env)
    elif isinstance(fact, ChoicePicked):
        if fact.key in ALWAYS_VALID:
            _fast_track(turn, env, Source.EMERGENCY)
        elif fact.key.startswith("signoff:") and fact.question == turn.conv.question:
            _sign_off(turn, fact.key)
        elif fact.question is not None and fact.question != turn.conv.question:
            _reask(turn, env, texts.OLD_BUTTON)
        else:
            _answer(turn, report.Picked(fact.key), env)
    elif isinstance(fact, ButtonRejected):
        _reask(turn, env, texts.FORGED_BUTTON)
    elif isinstance(fact, TextReceived):
        if fact.edited:
            _edited(turn, fact.text, env)
        else:
            _answer(turn, report.Typed(fact.text), env)
    elif isinstance(fact, AttachmentReceived):
        _answer(turn, report.Attached(fact.attachment, fact.caption), env)
    elif isinstance(fact, LocationShared):
        _location(turn, fact, env)
    elif isinstance(fact, Undecryptable):
        turn.say(texts.CANNOT_READ)
    elif isinstance(fact, Unsupported):
        _reask(turn, env, texts.STICKER)


def is_emergency(fact: ChatFact, env: Env) -> bool:
    """Whether a message asks for the fast track (it must never be held back)."""
    return _is_emergency(fact, env)


def _is_emergency(fact: ChatFact, env: Env) -> bool:
    if isinstance(fact, CommandReceived):
        return fact.name in ("emergency", "sos")
    if isinstance(fact, ChoicePicked):
        return fact.key in ALWAYS_VALID
    return isinstance(fact, TextReceived) and (_code_word(fact.text, env) or _cry_for_help(fact.text, env))


#: Typed on their own, these words mean the emergency button, in English or the reader's language.
HELP_WORDS = frozenset({"sos", "emergency", "help me"})
#: Command words that work without the / or ! when nothing else is going on.
BARE_COMMANDS = frozenset({"start", "report", "status", "help", "language", "cancel", "forget"})


def _cry_for_help(text: str, env: Env) -> bool:
    said = normalise(text)
    return bool(said) and (said in HELP_WORDS or said == normalise(env.render(texts.EMERGENCY)))


def _replayable(fact: ChatFact) -> dict[str, str] | None:
    if isinstance(fact, CommandReceived):
        return {"command": fact.name, "args": fact.args}
    if isinstance(fact, TextReceived):
        return {"text": fact.text}
    return None


def replay_fact(conv_state: dict[str, Any], origin: Origin) -> ChatFact | None:
    """The message held while the language was asked, as a fact to process now."""
    held = Conversation.from_json(conv_state).replay
    if not held:
        return None
    if "command" in held:
        return CommandReceived(origin, held["command"], held.get("args", ""))
    return TextReceived(origin, held["text"])


def _code_word(text: str, env: Env) -> bool:
    spaces = (env.space,) if env.space else env.spaces
    folded = f" {normalise(text)} "
    return any(s.code_word and f" {normalise(s.code_word)} " in folded for s in spaces if s is not None)


# --- commands --------------------------------------------------------------------------------------


def _command(turn: _Turn, fact: CommandReceived, env: Env) -> None:
    name, args = fact.name, fact.args.strip()
    if name == "start":
        turn.conv = replace(turn.conv, mode=Mode.IDLE)
        _menu(turn, env, texts.welcome(env.space))
    elif name == "report":
        if args:
            _quick_report(turn, args, env)
        else:
            _start_report(turn, env)
    elif name in ("emergency", "sos"):
        _fast_track(turn, env, Source.EMERGENCY)
    elif name == "status":
        turn.say(texts.status(env.cases))
    elif name == "help":
        turn.say(texts.help_text(env.space, env.prefix))
    elif name == "language":
        _language_command(turn, args, env)
    elif name == "cancel":
        _cancel(turn, env)
    elif name == "forget":
        turn.conv = replace(turn.conv, mode=Mode.FORGET)
        turn.ask(Prompt(texts.FORGET_CONFIRM, ((Choice(texts.ERASE, "erase"), Choice(texts.KEEP, "keep")),)))
    elif name == "withdraw":
        _withdraw(turn, args, env)
    else:
        _reask(turn, env, texts.unknown_command(name, env.prefix))


def _menu(turn: _Turn, env: Env, text: Renderable) -> None:
    rows: Rows = (
        (Choice(texts.MENU_REPORT, "menu:report"),),
        (Choice(texts.MENU_STATUS, "menu:status"),),
        (Choice(texts.MENU_HELP, "menu:help"), Choice(texts.MENU_LANGUAGE, "menu:language")),
        (Choice(texts.EMERGENCY, "sos", emergency=True),),
    )
    turn.ask(Prompt(text, rows))


def _start_report(turn: _Turn, env: Env) -> None:
    if env.paused is not None:
        turn.say(lines(texts.intake_paused(env.paused), texts.contacts_block(env.space) if env.space else None))
        return
    if turn.conv.draft is not None:
        turn.conv = replace(turn.conv, mode=Mode.RESUME)
        rows = (
            (Choice(texts.CONTINUE, "continue"), Choice(texts.START_OVER, "restart")),
            (Choice(texts.CANCEL, "cancel"),),
        )
        turn.ask(Prompt(texts.HAVE_DRAFT, rows))
        return
    draft = report.start(env.space.id if env.space else None, len(env.spaces))
    _enter_report(turn, draft, env)


def _enter_report(turn: _Turn, draft: report.Draft, env: Env, note: Renderable | None = None) -> None:
    turn.conv = replace(turn.conv, mode=Mode.REPORT, draft=draft.to_json())
    turn.ask(report.prompt(draft, _env_for(draft, env)), note)


def _quick_report(turn: _Turn, text: str, env: Env) -> None:
    if env.paused is not None:
        turn.say(lines(texts.intake_paused(env.paused), texts.contacts_block(env.space) if env.space else None))
        return
    if len(text) > env.max_text:
        turn.say(texts.too_long(env.max_text))
        return
    if env.space is None:
        # Several spaces and none chosen: the guided report asks which one first.
        draft = replace(report.start(None, len(env.spaces)), details=(text,))
        _enter_report(turn, draft, env)
        return
    draft = report.Draft(space=env.space.id, role=Role.UNKNOWN, category=Category.OTHER, details=(text,))
    turn.conv = replace(turn.conv, mode=Mode.QUICK, quick_step="offer")
    turn.actions.append(FileCase(draft.to_json(), Urgency.NORMAL, Source.QUICK))


def _fast_track(turn: _Turn, env: Env, source: Source) -> None:
    draft = report.Draft.from_json(turn.conv.draft) if turn.conv.draft else report.Draft()
    space = draft.space or (env.space.id if env.space else None)
    if space is None and source == Source.CODE_WORD:
        matching = [s for s in env.spaces if s.code_word and _code_word(s.code_word, Env(env.now, env.render, (s,)))]
        space = matching[0].id if matching else None
    if space is None and env.spaces:
        space = env.spaces[0].id
    draft = replace(draft, space=space)
    mode = Mode.IDLE if source == Source.CODE_WORD else Mode.LOCATION
    turn.conv = replace(turn.conv, mode=mode, draft=None)
    turn.actions.append(FileCase(draft.to_json(), Urgency.EMERGENCY, source))


def _cancel(turn: _Turn, env: Env) -> None:
    mode = turn.conv.mode
    turn.conv = replace(turn.conv, mode=Mode.IDLE, held=(), offered=())
    if mode == Mode.REPORT:
        hours = max(1, int(env.draft_ttl.total_seconds() // 3600))
        turn.say(texts.draft_kept(hours))
    elif mode == Mode.IDLE:
        turn.say(texts.NOTHING_TO_CANCEL)
    else:
        turn.say(t("OK, stopped."))


def _withdraw(turn: _Turn, args: str, env: Env) -> None:
    ref = parse_reference(args) if args else None
    own = {case.ref: case for case in env.open_cases}
    if ref is None and len(own) == 1:
        ref = next(iter(own))
    if ref is None or ref not in own:
        turn.say(
            t(
                "Please give the reference of your open report, for example: {example}",
                example="withdraw K7F-3QX",
            )
        )
        return
    turn.actions.append(WithdrawCase(ref))
    turn.say(t("Your report {ref} was withdrawn. The team was told.", ref=ref))


def _language_command(turn: _Turn, args: str, env: Env) -> None:
    if args:
        wanted = args.strip().replace("-", "_").lower()
        matches = [lang for lang in env.languages if lang.lower() == wanted or lang.lower().split("_")[0] == wanted]
        if matches:
            _set_language(turn, matches[0], env)
            return
        _ask_language(turn, env, note=texts.UNKNOWN_LANGUAGE)
        return
    _ask_language(turn, env)


def _ask_language(turn: _Turn, env: Env, note: Renderable | None = None, first: bool = False) -> None:
    preferred = [lang for lang in (env.space.languages if env.space else ()) if lang in env.languages]
    ordered = preferred + [lang for lang in env.languages if lang not in preferred]
    choices = [Choice(env.language_name(lang), f"lang:{lang}") for lang in ordered]
    rows = tuple(tuple(choices[i : i + 2]) for i in range(0, len(choices), 2))
    turn.conv = replace(turn.conv, mode=Mode.LANGUAGE)
    text = lines(texts.welcome(env.space), texts.Q_LANGUAGE, sep="\n\n") if first else texts.Q_LANGUAGE
    turn.ask(Prompt(text, rows), note)


def _set_language(turn: _Turn, language: str, env: Env) -> None:
    turn.conv = replace(turn.conv, mode=Mode.IDLE)
    turn.actions.append(SetLanguage(language))
    turn.say(t("I will write to you in {language} from now on.", language=env.language_name(language)))


# --- answers by mode -------------------------------------------------------------------------------


def _answer(turn: _Turn, reply: report.Answer, env: Env) -> None:
    mode = turn.conv.mode
    if mode == Mode.REPORT and turn.conv.draft is not None:
        _report_answer(turn, reply, env)
    elif mode == Mode.LANGUAGE:
        _language_answer(turn, reply, env)
    elif mode == Mode.RESUME:
        _resume_answer(turn, reply, env)
    elif mode == Mode.QUICK:
        _quick_answer(turn, reply, env)
    elif mode == Mode.LOCATION:
        _location_answer(turn, reply, env)
    elif mode == Mode.WHICH_CASE:
        _which_case_answer(turn, reply, env)
    elif mode == Mode.FORGET:
        _forget_answer(turn, reply, env)
    elif mode == Mode.SIGNOFF:
        _signoff_answer(turn, reply, env)
    else:
        _idle(turn, reply, env)


def _report_answer(turn: _Turn, reply: report.Answer, env: Env) -> None:
    assert turn.conv.draft is not None
    draft = report.Draft.from_json(turn.conv.draft)
    step_env = _env_for(draft, env)
    result = report.answer(draft, reply, step_env)
    if result.target == report.Exit.CANCEL:
        turn.conv = replace(turn.conv, draft=result.draft.to_json())
        _cancel(turn, env)
    elif result.target == report.Exit.FAST_TRACK:
        turn.conv = replace(turn.conv, draft=result.draft.to_json())
        _fast_track(turn, env, Source.EMERGENCY)
    elif result.target == report.Exit.FILE:
        turn.conv = replace(turn.conv, mode=Mode.IDLE, draft=None)
        turn.actions.append(FileCase(result.draft.to_json(), Urgency.NORMAL, Source.GUIDED))
    else:
        turn.conv = replace(turn.conv, draft=result.draft.to_json())
        turn.ask(report.prompt(result.draft, _env_for(result.draft, env)), result.note)


def _env_for(draft: report.Draft, env: Env) -> Env:
    """The environment of a draft's own space, once it is known."""
    if draft.space and (env.space is None or env.space.id != draft.space):
        chosen = next((s for s in env.spaces if s.id == draft.space), None)
        return replace(env, space=chosen, on_call=() if chosen is not env.space else env.on_call)
    return env


def _picked_key(turn: _Turn, reply: report.Answer, env: Env, prompt: Prompt) -> str | None:
    if isinstance(reply, report.Picked):
        return reply.key
    if isinstance(reply, report.Typed):
        matched = match_choice(reply.text, prompt.choices(), env.render)
        return matched.key if matched else None
    return None


def _language_answer(turn: _Turn, reply: report.Answer, env: Env) -> None:
    key = _picked_key(turn, reply, env, _language_prompt(env))
    if key is None and isinstance(reply, report.Typed):
        wanted = reply.text.strip().replace("-", "_").lower()
        key = next((f"lang:{lang}" for lang in env.languages if lang.lower() == wanted), None)
    if key is None or not key.startswith("lang:") or key[5:] not in env.languages:
        _ask_language(turn, env, note=texts.PICK_AN_OPTION)
        return
    _set_language(turn, key[5:], env)


def _language_prompt(env: Env) -> Prompt:
    choices = [Choice(env.language_name(lang), f"lang:{lang}") for lang in env.languages]
    return Prompt(texts.Q_LANGUAGE, (tuple(choices),))


def _resume_answer(turn: _Turn, reply: report.Answer, env: Env) -> None:
    rows = (
        (Choice(texts.CONTINUE, "continue"), Choice(texts.START_OVER, "restart")),
        (Choice(texts.CANCEL, "cancel"),),
    )
    key = _picked_key(turn, reply, env, Prompt(texts.HAVE_DRAFT, rows))
    if key == "continue" and turn.conv.draft is not None:
        _enter_report(turn, report.Draft.from_json(turn.conv.draft), env)
    elif key == "restart":
        turn.conv = replace(turn.conv, draft=None)
        _enter_report(turn, report.start(env.space.id if env.space else None, len(env.spaces)), env)
    elif key == "cancel":
        turn.conv = replace(turn.conv, mode=Mode.IDLE)
        turn.say(t("OK, stopped."))
    else:
        turn.ask(Prompt(texts.HAVE_DRAFT, rows), texts.PICK_AN_OPTION)


def quick_prompt(step: str) -> Prompt:
    nav = (Choice(texts.SKIP, "skip"), Choice(texts.NO_THANKS, "stop"))
    if step == "offer":
        return Prompt(texts.QUICK_FOLLOWUP, ((Choice(texts.ADD_DETAILS, "more"), Choice(texts.NO_THANKS, "stop")),))
    if step == "role":
        options = tuple((Choice(texts.ROLE[r], f"role:{r}"),) for r in (Role.AFFECTED, Role.WITNESS, Role.ON_BEHALF))
        return Prompt(texts.Q_ROLE, (*options, nav))
    if step == "category":
        return Prompt(texts.Q_CATEGORY, (*((Choice(texts.CATEGORY[c], f"cat:{c}"),) for c in Category), nav))
    if step == "involved":
        return Prompt(texts.Q_INVOLVED, (nav,))
    return Prompt(texts.Q_CONTACT, (*((Choice(texts.CONTACT[c], f"contact:{c}"),) for c in Contact), nav))


def _quick_answer(turn: _Turn, reply: report.Answer, env: Env) -> None:
    step = turn.conv.quick_step or "offer"
    focus = turn.conv.focus
    if focus is None:
        turn.conv = replace(turn.conv, mode=Mode.IDLE)
        _idle(turn, reply, env)
        return
    prompt = quick_prompt(step)
    key = _picked_key(turn, reply, env, prompt)
    change: dict[str, str] | None = None
    if key == "stop" or (step == "offer" and key is None and isinstance(reply, report.Typed)):
        turn.conv = replace(turn.conv, mode=Mode.IDLE, quick_step="")
        if key == "stop":
            turn.say(t("OK. Thank you."))
            return
        _idle(turn, reply, env)
        return
    if isinstance(reply, report.Attached):
        turn.actions.append(AddToCase(focus, "attachment", reply.caption, reply.attachment))
        turn.ask(prompt, texts.added_to_case(focus))
        return
    if (step == "offer" and key == "more") or key == "skip":
        pass
    elif step == "role" and key and key.startswith("role:"):
        change = {"role": key[5:]}
    elif step == "category" and key and key.startswith("cat:"):
        change = {"category": key[4:]}
    elif step == "contact" and key and key.startswith("contact:"):
        change = {"contact": key[8:]}
    elif step == "involved" and isinstance(reply, report.Typed) and reply.text.strip():
        if len(reply.text) > env.max_text:
            turn.ask(prompt, texts.too_long(env.max_text))
            return
        change = {"involved": reply.text.strip()}
    else:
        turn.ask(prompt, texts.PICK_AN_OPTION)
        return
    if change:
        turn.actions.append(UpdateCase(focus, change))
    following = QUICK_STEPS.index(step) + 1
    if following >= len(QUICK_STEPS):
        turn.conv = replace(turn.conv, mode=Mode.IDLE, quick_step="")
        turn.say(texts.QUICK_DONE)
        return
    turn.conv = replace(turn.conv, quick_step=QUICK_STEPS[following])
    turn.ask(quick_prompt(QUICK_STEPS[following]))


def _location_answer(turn: _Turn, reply: report.Answer, env: Env) -> None:
    focus = turn.conv.focus
    turn.conv = replace(turn.conv, mode=Mode.IDLE)
    if focus is None:
        _idle(turn, reply, env)
        return
    if isinstance(reply, report.Typed):
        text = reply.text.strip()[: env.max_text]
        if not text:
            turn.conv = replace(turn.conv, mode=Mode.LOCATION)
            turn.say(texts.Q_LOCATION)
            return
        turn.actions.append(AddToCase(focus, "location", text))
    elif isinstance(reply, report.Attached):
        turn.actions.append(AddToCase(focus, "attachment", reply.caption, reply.attachment))
        turn.conv = replace(turn.conv, mode=Mode.LOCATION)
        turn.say(lines(texts.added_to_case(focus), texts.Q_LOCATION))
        return
    else:
        _idle(turn, reply, env)
        return
    turn.say(texts.LOCATION_THANKS)


def _location(turn: _Turn, fact: LocationShared, env: Env) -> None:
    body = f"{fact.latitude:.6f},{fact.longitude:.6f}"
    focus = turn.conv.focus
    if turn.conv.mode == Mode.LOCATION and focus is not None:
        turn.conv = replace(turn.conv, mode=Mode.IDLE)
        turn.actions.append(AddToCase(focus, "location", body))
        turn.say(texts.LOCATION_THANKS)
        return
    if turn.conv.mode == Mode.REPORT and turn.conv.draft is not None:
        draft = report.Draft.from_json(turn.conv.draft)
        if draft.step == report.Step.WHEN_WHERE:
            _report_answer(turn, report.Typed(f"📍 {body}"), env)
            return
        _report_answer(turn, report.Attached(Attachment("location", body)), env)
        return
    _follow_up(turn, ("📍 " + body,), env, kind="location")


def _forget_answer(turn: _Turn, reply: report.Answer, env: Env) -> None:
    rows = ((Choice(texts.ERASE, "erase"), Choice(texts.KEEP, "keep")),)
    key = _picked_key(turn, reply, env, Prompt(texts.FORGET_CONFIRM, rows))
    if key == "erase":
        turn.conv = Conversation()
        turn.actions.append(Forget())
    elif key == "keep":
        turn.conv = replace(turn.conv, mode=Mode.IDLE)
        turn.say(texts.FORGET_KEPT)
    else:
        turn.ask(Prompt(texts.FORGET_CONFIRM, rows), texts.PICK_AN_OPTION)


def _which_case_answer(turn: _Turn, reply: report.Answer, env: Env) -> None:
    prompt = _which_case_prompt(turn.conv.offered, env)
    key = _picked_key(turn, reply, env, prompt)
    if key is None and isinstance(reply, report.Typed):
        ref = parse_reference(reply.text)
        key = f"case:{ref}" if ref in turn.conv.offered else None
    if key == "cancel":
        turn.conv = replace(turn.conv, mode=Mode.IDLE, held=(), offered=())
        turn.say(t("OK, stopped."))
        return
    if key is None or not key.startswith("case:") or CaseRef(key[5:]) not in turn.conv.offered:
        turn.ask(prompt, texts.PICK_AN_OPTION)
        return
    ref = CaseRef(key[5:])
    for body in turn.conv.held:
        turn.actions.append(AddToCase(ref, "reporter", body))
    turn.conv = replace(turn.conv, mode=Mode.IDLE, held=(), offered=())
    turn.say(texts.added_to_case(ref))


def _which_case_prompt(offered: tuple[CaseRef, ...], env: Env) -> Prompt:
    cases = {case.ref: case for case in env.cases}
    rows = tuple((Choice(texts.status_line(cases[ref]) if ref in cases else ref, f"case:{ref}"),) for ref in offered)
    return Prompt(texts.Q_WHICH_CASE, (*rows, (Choice(texts.CANCEL, "cancel"),)))


def _idle(turn: _Turn, reply: report.Answer, env: Env) -> None:
    if isinstance(reply, report.Picked):
        menu = reply.key.partition(":")[2] if reply.key.startswith("menu:") else ""
        if menu == "report":
            _start_report(turn, env)
        elif menu == "status":
            turn.say(texts.status(env.cases))
        elif menu == "help":
            turn.say(texts.help_text(env.space, env.prefix))
        elif menu == "language":
            _ask_language(turn, env)
        elif reply.key.startswith("lang:") and reply.key[5:] in env.languages:
            _set_language(turn, reply.key[5:], env)
        else:
            _menu(turn, env, texts.CHOOSE)
        return
    if isinstance(reply, report.Attached):
        if env.open_cases:
            _follow_up(turn, (reply.caption,), env, kind="attachment", attachment=reply)
        else:
            _menu(turn, env, texts.NO_OPEN_CASE)
        return
    text = reply.text.strip()
    if not text:
        _menu(turn, env, texts.CHOOSE)
        return
    if len(text) > env.max_text:
        turn.say(texts.too_long(env.max_text))
        return
    if env.open_cases:
        _follow_up(turn, (text,), env)
    else:
        _menu(turn, env, texts.welcome(env.space) if not env.cases else texts.NO_OPEN_CASE)


def _follow_up(
    turn: _Turn,
    bodies: tuple[str, ...],
    env: Env,
    kind: str = "reporter",
    attachment: report.Attached | None = None,
) -> None:
    open_cases = env.open_cases
    if not open_cases:
        _menu(turn, env, texts.NO_OPEN_CASE)
        return
    if len(open_cases) == 1:
        ref = open_cases[0].ref
        for body in bodies:
            turn.actions.append(AddToCase(ref, kind, body, attachment.attachment if attachment else None))
        turn.say(texts.added_to_case(ref))
        return
    if attachment is not None:
        # Attachments cannot wait in the conversation; they go to the newest open case.
        ref = open_cases[-1].ref
        turn.actions.append(AddToCase(ref, kind, bodies[0], attachment.attachment))
        turn.say(texts.added_to_case(ref))
        return
    offered = tuple(case.ref for case in open_cases)
    turn.conv = replace(turn.conv, mode=Mode.WHICH_CASE, held=(*turn.conv.held, *bodies), offered=offered)
    turn.ask(_which_case_prompt(offered, env))


def _edited(turn: _Turn, text: str, env: Env) -> None:
    if turn.conv.mode == Mode.IDLE and env.open_cases and text.strip():
        _follow_up(turn, (t_correction(text),), env)
        return
    _reask(
        turn,
        env,
        t("I saw that you edited a message. I keep what you wrote first; please send the correction as a new message."),
    )


def t_correction(text: str) -> str:
    return f"✏ {text.strip()}"


def _reask(turn: _Turn, env: Env, note: Renderable) -> None:
    """Explain, then repeat the current question (if there is one)."""
    prompt = current_prompt(turn.conv, env)
    if prompt is None:
        turn.say(note)
    else:
        turn.ask(prompt, note)


def current_prompt(conv: Conversation, env: Env) -> Prompt | None:
    mode = conv.mode
    if mode == Mode.REPORT and conv.draft is not None:
        draft = report.Draft.from_json(conv.draft)
        return report.prompt(draft, _env_for(draft, env))
    if mode == Mode.QUICK and conv.quick_step:
        return quick_prompt(conv.quick_step)
    if mode == Mode.WHICH_CASE:
        return _which_case_prompt(conv.offered, env)
    if mode == Mode.LANGUAGE:
        choices = [Choice(env.language_name(lang), f"lang:{lang}") for lang in env.languages]
        return Prompt(texts.Q_LANGUAGE, tuple(tuple(choices[i : i + 2]) for i in range(0, len(choices), 2)))
    if mode == Mode.FORGET:
        return Prompt(texts.FORGET_CONFIRM, ((Choice(texts.ERASE, "erase"), Choice(texts.KEEP, "keep")),))
    if mode == Mode.LOCATION:
        return Prompt(texts.Q_LOCATION)
    if mode == Mode.SIGNOFF and conv.focus is not None:
        return _signoff_prompt(conv.focus, texts.IS_IT_RIGHT)
    return None


def _sign_off(turn: _Turn, key: str) -> None:
    _, answer, ref = key.split(":", 2)
    if parse_reference(ref) is None:
        return
    turn.conv = replace(turn.conv, mode=Mode.IDLE)
    turn.actions.append(SignOff(CaseRef(ref), answer == "yes"))
    turn.say(texts.SIGNED_OFF if answer == "yes" else texts.CORRECTION)


def _signoff_prompt(ref: CaseRef, record: Renderable) -> Prompt:
    rows = ((Choice(texts.SIGNOFF_YES, f"signoff:yes:{ref}"), Choice(texts.SIGNOFF_FIX, f"signoff:fix:{ref}")),)
    return Prompt(record, rows)


def offer_signoff(state: dict[str, Any] | None, ref: CaseRef, record: Renderable) -> Outcome:
    """Show a reporter the written record of what they told a responder, to confirm or correct."""
    turn = _Turn(replace(Conversation.from_json(state), mode=Mode.SIGNOFF, focus=ref))
    turn.ask(_signoff_prompt(ref, record))
    return turn.done()


def _signoff_answer(turn: _Turn, reply: report.Answer, env: Env) -> None:
    ref = turn.conv.focus
    if ref is None:
        turn.conv = replace(turn.conv, mode=Mode.IDLE)
        _idle(turn, reply, env)
        return
    prompt = _signoff_prompt(ref, texts.IS_IT_RIGHT)
    key = _picked_key(turn, reply, env, prompt)
    if key is None or not key.startswith("signoff:"):
        turn.ask(prompt, texts.PICK_AN_OPTION)
        return
    _sign_off(turn, key)


# --- after the service filed a case ----------------------------------------------------------------


def filed(state: dict[str, Any], case: Case, space: Space, env: Env, expected: Any) -> Outcome:
    """What the reporter hears once their case is stored (the receipt), and what comes next."""
    turn = _Turn(replace(Conversation.from_json(state), focus=case.ref))
    if case.source == Source.CODE_WORD:
        turn.say(texts.DISCREET_OK)
    elif case.urgency == Urgency.EMERGENCY:
        turn.conv = replace(turn.conv, mode=Mode.LOCATION)
        turn.say(texts.emergency_received(case, space))
    elif case.source == Source.QUICK:
        turn.say(texts.receipt(case, space, expected))
        turn.conv = replace(turn.conv, mode=Mode.QUICK, quick_step="offer")
        turn.ask(quick_prompt("offer"))
    else:
        turn.say(texts.receipt(case, space, expected))
    return turn.done()
