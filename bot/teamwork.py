"""The team's side: responder commands, card buttons and reactions, reminders.

Authorisation comes first and reveals nothing: a stranger gets "this command is for the response
team"; a responder asking about a case of another space, or a case they are excluded from (conflict of
interest), gets the same answer as for a case that does not exist.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from bot.directory import Directory
from bot.domain.ids import CaseRef, ChatAddress, Identity, command_prefix
from bot.domain.model import (
    SERIOUS,
    Case,
    CaseContent,
    CaseEvent,
    CaseMessage,
    CaseState,
    Category,
    Contact,
    Lane,
    Person,
    Role,
    Source,
    Urgency,
)
from bot.domain.reference import new_code, parse_reference
from bot.domain.routing import excluded, named_in, on_call, route
from bot.domain.space import ContactKind, Space, Target
from bot.escalation import QUIET, UNCLAIMED, Escalation
from bot.i18n import Renderable, t
from bot.messages import ChatFact, ChoicePicked, CommandReceived, ReactionAdded, Send, TextReceived
from bot.ports import Code, StoredConversation, Timer
from bot.speaker import Speaker
from bot.work import Work
from flows import cards, responder, team, texts
from flows.common import Reply

CARD_ACTIONS = frozenset({"ack", "claim", "join"})


class Teamwork:
    def __init__(self, directory: Directory, speaker: Speaker, escalation: Escalation) -> None:
        self.directory = directory
        self.speaker = speaker
        self.escalation = escalation

    # --- reading the fact ------------------------------------------------------------------------

    async def handle(self, work: Work, fact: ChatFact, room: Space | None) -> None:
        origin = fact.origin
        prefix = command_prefix(origin.chat)
        thread_case = await self._thread_case(work, fact, room)
        parsed: team.TeamCommand | team.Problem
        if isinstance(fact, ChoicePicked):
            name, _, raw = fact.key.partition(":")
            ref = parse_reference(raw)
            if name not in CARD_ACTIONS:
                return
            if ref is None:
                await self._answer(work, fact, room, texts.FORGED_BUTTON, None)
                return
            parsed = team.TeamCommand(name, ref)
        elif isinstance(fact, CommandReceived) and fact.name == "newreport":
            await self._new_report(work, fact, room)
            return
        elif isinstance(fact, CommandReceived):
            if fact.name not in team.CASE_COMMANDS | team.LIST_COMMANDS:
                if room is not None:
                    await self._answer(work, fact, room, texts.unknown_command(fact.name, prefix), thread_case)
                return
            parsed = team.parse(fact.name, fact.args, prefix, thread_case)
        elif isinstance(fact, ReactionAdded) and room is not None and fact.emoji.startswith("✅"):
            ref = await work.tx.case_for_message(origin.chat, fact.message)
            if ref is None:
                return  # a reaction on something that is not a card: nothing to do
            parsed = team.TeamCommand("ack", ref)
        else:
            return
        spaces = [room] if room is not None else list(self.directory.responder_spaces(origin.sender))
        spaces = [s for s in spaces if s.is_responder(origin.sender)]
        if not spaces:
            await self._answer(work, fact, room, team.NOT_A_RESPONDER, None)
            return
        if isinstance(parsed, team.Problem):
            await self._answer(work, fact, room or spaces[0], parsed.text, thread_case)
            return
        if parsed.name in team.LIST_COMMANDS:
            for space in spaces:
                await self._list(work, fact, space, parsed.name)
            return
        assert parsed.ref is not None
        case = await work.tx.case(parsed.ref)
        home = next((s for s in spaces if case is not None and s.id == case.space), None)
        actor = home.person(origin.sender) if home else None
        if case is None or home is None or actor is None or actor.key in excluded(case, home):
            await self._answer(work, fact, room or spaces[0], team.unknown_case(parsed.ref), None)
            return
        await self._act(work, fact, home, actor, case, parsed, room)

    async def _thread_case(self, work: Work, fact: ChatFact, room: Space | None) -> CaseRef | None:
        origin = fact.origin
        if room is None:
            return None
        for ref in (origin.thread, origin.reply_to):
            if ref:
                found = await work.tx.case_for_thread(origin.chat, ref)
                if found is not None:
                    return found
        return None

    async def _answer(
        self, work: Work, fact: ChatFact, space: Space | None, text: Renderable, case: CaseRef | None
    ) -> None:
        """Answer where the command came from: the team room (in the case's thread) or privately."""
        origin = fact.origin
        language = space.team_language if space is not None else "en"
        if space is not None and not origin.private:
            await self.speaker.say(work, origin.chat, text, language, case=case, in_thread=case is not None)
            return
        if space is not None:
            language = self.speaker.language_of(space.person(origin.sender), space)
        await self.speaker.say(work, origin.chat, text, language)

    # --- acting on a case ------------------------------------------------------------------------

    async def _act(
        self,
        work: Work,
        fact: ChatFact,
        space: Space,
        person: Person,
        case: Case,
        command: team.TeamCommand,
        room: Space | None,
    ) -> None:
        name = command.name
        assert case.id is not None
        if name == "ack":
            if case.state != CaseState.OPEN:
                by = space.person(case.acknowledged_by or "")
                if case.is_open:
                    await self._answer(
                        work, fact, space, team.already_acknowledged(case, by.name if by else "—"), case.ref
                    )
                else:
                    await self._answer(work, fact, space, team.closed(case), case.ref)
                return
            await self.acknowledge(work, case, space, person)
            if fact.origin.private:
                await self._answer(work, fact, space, team.acknowledged(case, person.name), None)
        elif name in ("claim", "join"):
            await self._take(work, fact, space, person, case, joining=name == "join")
        elif name == "leave":
            if person.key not in case.assignees:
                await self._answer(work, fact, space, team.TAKE_IT_FIRST, case.ref)
                return
            remaining = tuple(a for a in case.assignees if a != person.key)
            state = CaseState.CLAIMED if remaining else CaseState.ACKNOWLEDGED
            updated = replace(case.with_state(state, work.now), assignees=remaining)
            await work.tx.save_case(updated)
            await work.tx.add_event(case.id, CaseEvent(work.now, person.key, "left"))
            if not remaining:
                await work.tx.cancel_timers(case.id, [QUIET])
                await work.timer(UNCLAIMED, work.now, case=case.id)
            await self.speaker.to_room(work, space, team.left(case, person.name), case.ref)
            await self.escalation.update_cards(work, updated, space)
        elif name == "reply":
            await self._reply(work, fact, space, person, case, command.text)
        elif name == "note":
            if person.key not in case.assignees and not space.is_coordinator(person.key):
                await self._answer(work, fact, space, team.TAKE_IT_FIRST, case.ref)
                return
            await work.tx.add_message(case.id, CaseMessage(work.now, person.key, "note", command.text))
            await work.tx.add_event(case.id, CaseEvent(work.now, person.key, "note"))
            await work.tx.save_case(replace(case, updated_at=work.now))
            await self._answer(work, fact, space, team.NOTE_ADDED, case.ref)
        elif name == "resolve":
            assert command.outcome is not None
            if person.key not in case.assignees and not space.is_coordinator(person.key):
                await self._answer(work, fact, space, team.TAKE_IT_FIRST, case.ref)
                return
            if not case.is_open:
                await self._answer(work, fact, space, team.not_open(case), case.ref)
                return
            updated = replace(
                case.with_state(CaseState.RESOLVED, work.now), outcome=command.outcome, resolved_at=work.now
            )
            await work.tx.save_case(updated)
            await self.escalation.stop(work, updated)
            await work.tx.add_event(
                case.id, CaseEvent(work.now, person.key, "resolved", {"outcome": command.outcome.value})
            )
            if command.text:
                await work.tx.add_message(case.id, CaseMessage(work.now, person.key, "note", command.text))
            await work.tx.audit(work.now, case.space, person.key, "case.resolved", case.ref, command.outcome.value)
            await self.speaker.to_room(work, space, team.resolved(case, person.name, command.outcome), case.ref)
            await self.escalation.update_cards(work, updated, space)
            await self.tell_reporter(work, updated, texts.case_closed(case.ref), status=True)
            await self._after_closing(work, updated, space)
        elif name == "reopen":
            if case.is_open:
                await self._answer(work, fact, space, team.already_open(case), case.ref)
                return
            if person.key not in case.assignees and not space.is_coordinator(person.key):
                await self._answer(work, fact, space, team.TAKE_IT_FIRST, case.ref)
                return
            state = CaseState.CLAIMED if case.assignees else CaseState.ACKNOWLEDGED
            updated = replace(case.with_state(state, work.now), outcome=None, resolved_at=None)
            await work.tx.save_case(updated)
            await work.tx.add_event(case.id, CaseEvent(work.now, person.key, "reopened"))
            await self.speaker.to_room(work, space, team.reopened(case, person.name), case.ref)
            await self.escalation.update_cards(work, updated, space)

    async def acknowledge(self, work: Work, case: Case, space: Space, person: Person) -> Case:
        updated = await self.escalation.acknowledge(work, case, space, person.key)
        await work.tx.audit(work.now, case.space, person.key, "case.acknowledged", case.ref)
        await self.speaker.to_room(
            work, space, team.acknowledged(case, person.name), case.ref, self.escalation.lane(case)
        )
        await self.escalation.update_cards(work, updated, space)
        if case.urgency == Urgency.EMERGENCY:
            await self.tell_reporter(work, updated, texts.someone_acknowledged(case.ref), lane=Lane.EMERGENCY)
        return updated

    async def _take(
        self, work: Work, fact: ChatFact, space: Space, person: Person, case: Case, *, joining: bool
    ) -> None:
        assert case.id is not None
        if not case.is_open:
            await self._answer(work, fact, space, team.closed(case), case.ref)
            return
        if person.key in case.assignees:
            await self.send_details(work, case, space, person)
            return
        if case.assignees and not joining:
            names = cards.names((), space, case.assignees)
            prefix = command_prefix(fact.origin.chat)
            await self._answer(work, fact, space, team.taken_by(case, names, prefix), case.ref)
            return
        if case.state == CaseState.OPEN:
            case = await self.escalation.acknowledge(work, case, space, person.key)
            if case.urgency == Urgency.EMERGENCY:
                await self.tell_reporter(work, case, texts.someone_acknowledged(case.ref), lane=Lane.EMERGENCY)
        first = not case.assignees
        updated = replace(case.with_state(CaseState.CLAIMED, work.now), assignees=(*case.assignees, person.key))
        await work.tx.save_case(updated)
        assert case.id is not None
        await work.tx.cancel_timers(case.id, [UNCLAIMED])
        if first:
            await work.timer(QUIET, work.now + space.handling.quiet_after, case=case.id)
        await work.tx.add_event(case.id, CaseEvent(work.now, person.key, "joined" if not first else "claimed"))
        await work.tx.audit(work.now, case.space, person.key, "case.claimed" if first else "case.joined", case.ref)
        announce = team.claimed(case, person.name) if first else team.joined(case, person.name)
        await self.speaker.to_room(work, space, announce, case.ref)
        await self.escalation.update_cards(work, updated, space)
        await self.send_details(work, updated, space, person)
        if first:
            await self.tell_reporter(work, updated, texts.case_taken(case.ref), status=True)

    async def send_details(self, work: Work, case: Case, space: Space, person: Person) -> None:
        """The full report, privately, to one person handling it (audited: content was decrypted)."""
        assert case.id is not None
        messages = [(m.kind, m.body) for m in await work.tx.messages(case.id)]
        details = team.details(case, space, messages, work.now)
        await self.speaker.tell(work, person, space, details, self.escalation.lane(case), case=case.ref)
        await work.tx.audit(work.now, case.space, person.key, "case.content.read", case.ref)

    async def _reply(self, work: Work, fact: ChatFact, space: Space, person: Person, case: Case, text: str) -> None:
        assert case.id is not None
        if person.key not in case.assignees:
            await self._answer(work, fact, space, team.TAKE_IT_FIRST, case.ref)
            return
        if case.contact == Contact.NONE:
            await self._answer(work, fact, space, team.NO_CONTACT, case.ref)
            return
        shown = (
            texts.team_reply_named(person.name, text) if space.handling.show_responder_names else texts.team_reply(text)
        )
        if not await self.tell_reporter(work, case, shown):
            await self._answer(work, fact, space, team.UNREACHABLE_REPORTER, case.ref)
            return
        await work.tx.add_message(case.id, CaseMessage(work.now, person.key, "team", text))
        await work.tx.add_event(case.id, CaseEvent(work.now, person.key, "replied"))
        await work.tx.save_case(replace(case, updated_at=work.now))
        await self._answer(work, fact, space, team.reply_sent(case), case.ref)

    async def tell_reporter(
        self, work: Work, case: Case, text: Renderable, lane: Lane = Lane.CONVERSATION, *, status: bool = False
    ) -> bool:
        """Message the reporter of a case. Status changes skip witnesses (SPEC 4.2), except "closed"."""
        if status and case.role == Role.WITNESS and case.state != CaseState.RESOLVED:
            return True
        if status and case.contact == Contact.NONE:
            return True
        if case.reporter is None:
            return False
        who = await work.tx.reporter(case.space, case.reporter)
        if who is None or who.chat is None:
            return False
        await self.speaker.say(work, who.chat, text, who.language, lane=lane)
        return True

    # --- a responder's own conversations: verbal reports and reviews --------------------------------

    @staticmethod
    def flow_chat(person: str) -> ChatAddress:
        """A responder's own flows are keyed by the person (their private chat may be a room on Matrix),
        apart from any reporter conversation they have."""
        return ChatAddress(f"{person}#team")

    async def _new_report(self, work: Work, fact: ChatFact, room: Space | None) -> None:
        origin = fact.origin
        spaces = [room] if room else [s for s in self.directory.responder_spaces(origin.sender)]
        spaces = [s for s in spaces if s.is_responder(origin.sender)]
        if not spaces:
            await self._answer(work, fact, room, team.NOT_A_RESPONDER, None)
            return
        if not origin.private:
            await self._answer(
                work,
                fact,
                spaces[0],
                t("Please start {command} in your private chat with the bot.", command="newreport"),
                None,
            )
            return
        state, actions = responder.start_verbal()
        state["space"] = spaces[0].id
        await self._run_flow(work, fact, spaces[0], state, actions)

    async def private_flow(self, work: Work, fact: ChatFact) -> bool:
        """Continue a responder's verbal report or review; False when none is in progress."""
        origin = fact.origin
        if not origin.private or not isinstance(fact, TextReceived | ChoicePicked):
            return False
        stored = await work.tx.conversation(self.flow_chat(origin.sender))
        if stored is None or not stored.state.get("flow"):
            return False
        space = self.directory.get(str(stored.state.get("space", "")))
        person = space.person(origin.sender) if space else None
        if space is None or person is None:
            return False
        language = self.speaker.language_of(person, space)
        if isinstance(fact, ChoicePicked) and fact.question not in (None, stored.state.get("question")):
            await self.speaker.say(work, origin.chat, texts.OLD_BUTTON, language)
            return True
        text = fact.text if isinstance(fact, TextReceived) else None
        key = fact.key if isinstance(fact, ChoicePicked) else None
        state, actions = responder.step(stored.state, text, key, self.speaker.renderer(language))
        if state is not None:
            state["space"] = space.id
        await self._run_flow(work, fact, space, state, actions)
        return True

    async def _run_flow(
        self, work: Work, fact: ChatFact, space: Space, state: dict[str, Any] | None, actions: list[responder.Action]
    ) -> None:
        origin = fact.origin
        person = space.person(origin.sender)
        assert person is not None
        language = self.speaker.language_of(person, space)
        chat = self.flow_chat(origin.sender)
        if state is None:
            await work.tx.delete_conversation(chat)
        else:
            await work.tx.save_conversation(StoredConversation(chat, language, space.id, state, work.now))
        for action in actions:
            if isinstance(action, Reply):
                question = state.get("question") if state else None
                await self.speaker.say(work, origin.chat, action.text, language, action.rows, question)
            elif isinstance(action, responder.SaveVerbal):
                await self.file_verbal(work, fact, space, person, action.draft)
            elif isinstance(action, responder.SaveReview):
                case = await work.tx.case(CaseRef(action.ref))
                if case is not None and case.id is not None and case.content is not None:
                    body = f"{action.question}: {action.answer}"
                    await work.tx.add_message(case.id, CaseMessage(work.now, person.key, "review", body))
            elif isinstance(action, responder.ReviewDone):
                case = await work.tx.case(CaseRef(action.ref))
                if case is not None and case.id is not None:
                    await work.tx.add_event(
                        case.id, CaseEvent(work.now, person.key, "reviewed", {"answered": action.answered})
                    )

    async def file_verbal(
        self, work: Work, fact: ChatFact, space: Space, person: Person, draft: dict[str, Any]
    ) -> None:
        """A report taken in person: stored, taken by its recorder, and offered to the reporter for sign-off."""
        ref = await work.new_reference()
        content = CaseContent(
            when_where=draft.get("when_where", ""),
            involved=draft.get("involved", ""),
            details=(draft.get("what", ""),),
            excluded=tuple(k for k in named_in(draft.get("involved", ""), space.responders) if k != person.key),
        )
        category = Category(draft["category"])
        case = await work.tx.add_case(
            Case(
                id=None,
                ref=ref,
                space=space.id,
                state=CaseState.CLAIMED,
                urgency=Urgency.HIGH if category in SERIOUS else Urgency.NORMAL,
                category=category,
                role=Role.UNKNOWN,
                source=Source.VERBAL,
                language=space.default_language,
                reporter=None,
                contact=Contact.ANONYMOUS,
                created_at=work.now,
                updated_at=work.now,
                acknowledged_at=work.now,
                acknowledged_by=person.key,
                assignees=(person.key,),
                signed_off=False,
                content=content,
            )
        )
        assert case.id is not None
        await work.tx.add_event(
            case.id, CaseEvent(work.now, person.key, "filed", {"source": "verbal", "category": category.value})
        )
        await work.tx.audit(work.now, space.id, person.key, "case.filed", ref, "verbal")
        if content.involved:
            await work.tx.index_people(space.id, case.id, content.involved)
        await work.timer(QUIET, work.now + space.handling.quiet_after, case=case.id)
        await self.escalation.post_cards(work, case, space)
        code = new_code()
        await work.tx.add_code(
            code, Code("signoff", space.id, {"ref": ref}, person.key, work.now + timedelta(days=14)), work.now
        )
        username = await work.tx.setting("telegram.username")
        links = [
            f"https://t.me/{username}?start=signoff-{code}" if username else f"/start signoff-{code}",
            f"!start signoff-{code}",
        ]
        await self.speaker.tell(
            work,
            person,
            space,
            team.verbal_saved(case, " · ".join(links)),
            case=case.ref,
        )
        contact = draft.get("contact")
        if contact:
            await work.send(
                Send(
                    ChatAddress(contact),
                    self.speaker.render(
                        texts.signoff_invitation(space.name, f"start signoff-{code}"), space.default_language
                    ),
                ),
                Lane.CONVERSATION,
            )

    async def _after_closing(self, work: Work, case: Case, space: Space) -> None:
        """Offer the handlers the post-incident review; a self-care note after a serious case."""
        serious = case.urgency in (Urgency.HIGH, Urgency.EMERGENCY) or case.category in SERIOUS
        for key in case.assignees:
            handler = space.person(key)
            if handler is None:
                continue
            for address in self.speaker.addresses(handler):
                chat = self.flow_chat(address)
                current = await work.tx.conversation(chat)
                if current is not None and current.state.get("flow"):
                    continue
                state, actions = responder.start_review(case.ref)
                state["space"] = space.id
                language = self.speaker.language_of(handler, space)
                await work.tx.save_conversation(StoredConversation(chat, language, space.id, state, work.now))
                for action in actions:
                    if isinstance(action, Reply):
                        await self.speaker.say(work, address, action.text, language, action.rows, state["question"])
            if serious:
                await self.speaker.tell(
                    work, handler, space, responder.self_care(texts.contacts_block(space, (ContactKind.PSYCHOLOGICAL,)))
                )

    # --- lists -----------------------------------------------------------------------------------

    async def _list(self, work: Work, fact: ChatFact, space: Space, name: str) -> None:
        person = space.person(fact.origin.sender)
        if name == "cases":
            visible = []
            for case in await work.tx.cases(space=space.id, open_only=True):
                if person is None or person.key in case_excluded(case, await work.tx.case(case.ref), space):
                    continue
                visible.append(case)
            await self._answer(work, fact, space, team.case_list(visible, space, work.now), None)
        else:
            following = space.rota.next_change(work.now) if space.rota else None
            later = None
            if following is not None:
                moment, keys = following
                later = (moment, [p for p in space.responders if p.key in keys])
            await self._answer(work, fact, space, team.oncall(space, on_call(space, work.now), later), None)

    # --- reminders -------------------------------------------------------------------------------

    async def remind(self, work: Work, timer: Timer) -> None:
        """Re-notify an acknowledged case nobody took; nudge the handlers of a quiet case."""
        if timer.case is None:
            return
        case = await work.tx.case_by_id(timer.case)
        space = self.directory.get(case.space) if case else None
        if case is None or space is None or not case.is_open:
            return
        if timer.kind == UNCLAIMED:
            if case.state != CaseState.ACKNOWLEDGED:
                return
            found = route(space, case, Target.ONCALL, work.now, first=False)
            for person in found.people:
                await self.speaker.tell(
                    work,
                    person,
                    space,
                    team.unclaimed_reminder(case),
                    Lane.PAGE,
                    case=case.ref,
                    rows=cards.claim_buttons(case),
                )
            await self.speaker.to_room(work, space, team.unclaimed_reminder(case), case.ref)
            await work.tx.add_event(timer.case, CaseEvent(work.now, "system", "reminded", {"kind": "unclaimed"}))
            await work.timer(UNCLAIMED, work.now + space.handling.unclaimed_after, case=timer.case)
        elif timer.kind == QUIET:
            if case.state != CaseState.CLAIMED:
                return
            quiet_since = case.updated_at
            due = quiet_since + space.handling.quiet_after
            if due > work.now:
                await work.timer(QUIET, due, case=timer.case)
                return
            for key in case.assignees:
                handler = space.person(key)
                if handler is not None:
                    await self.speaker.tell(work, handler, space, team.quiet_reminder(case), Lane.PAGE, case=case.ref)
            await work.tx.add_event(timer.case, CaseEvent(work.now, "system", "reminded", {"kind": "quiet"}))
            await work.timer(QUIET, work.now + space.handling.quiet_after, case=timer.case)


def case_excluded(case: Case, full: Case | None, space: Space) -> frozenset[Identity]:
    return excluded(full or case, space)
