"""The service: applies one inbound fact (or one due timer) inside one transaction.

It loads the state the fact concerns, runs the pure flow, persists what changed and queues the
outbound effects in the outbox, all in the caller's unit of work. Nothing here talks to a platform.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from bot.administration import Administration
from bot.directory import Directory
from bot.domain.ids import CaseRef, Identity, Platform, command_prefix
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
    Reporter,
    Role,
    Urgency,
    Whom,
)
from bot.domain.reference import new_pseudonym
from bot.domain.routing import excluded, named_in, on_call
from bot.domain.space import ContactKind, Space
from bot.escalation import ESCALATE, HANDOVER, QUIET, UNCLAIMED, Escalation
from bot.i18n import lines
from bot.messages import (
    AttachmentReceived,
    ChatFact,
    ChoicePicked,
    CommandReceived,
    DeliveryFailed,
    Fact,
    FileFetched,
    Origin,
)
from bot.ports import StoredConversation, Timer, Translator
from bot.speaker import Speaker
from bot.teamwork import Teamwork
from bot.work import Work
from flows import admin, cards, reporter, texts
from flows.common import (
    AddToCase,
    Env,
    FileCase,
    Forget,
    Reply,
    SetLanguage,
    SignOff,
    UpdateCase,
    WithdrawCase,
)
from flows.report import Draft

log = logging.getLogger(__name__)

RESPONDER_COMMANDS = frozenset(
    {"ack", "claim", "join", "leave", "reply", "note", "resolve", "reopen", "cases", "oncall", "newreport"}
)


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    max_text: int = 4000
    draft_remind_after: timedelta = timedelta(hours=1)
    draft_expire_after: timedelta = timedelta(hours=24)
    #: Flood protection: at most this many messages per minute from one private chat (emergencies pass).
    flood_per_minute: int = 30


#: Commands a blocked reporter may still use: they concern only their own data.
ALLOWED_WHEN_BLOCKED = frozenset({"help", "language", "forget", "status", "start", "emergency", "sos"})


class Service:
    def __init__(
        self,
        directory: Directory,
        translator: Translator,
        platforms: tuple[Platform, ...],
        settings: ServiceSettings | None = None,
    ) -> None:
        self.directory = directory
        self.translator = translator
        self.platforms = platforms
        self.settings = settings or ServiceSettings()
        self.speaker = Speaker(translator, platforms)
        self.escalation = Escalation(self.speaker, directory)
        self.teamwork = Teamwork(directory, self.speaker, self.escalation)
        self.administration = Administration(directory, self.speaker, self.escalation)
        self._recent: dict[str, deque[float]] = {}
        self._warned: set[str] = set()

    # --- entry points --------------------------------------------------------------------------

    async def handle(self, work: Work, fact: Fact) -> None:
        if isinstance(fact, DeliveryFailed):
            await self._delivery_failed(work, fact)
            return
        if isinstance(fact, FileFetched):
            await self.administration.file_fetched(work, fact)
            return
        origin = fact.origin
        room_space = self.directory.by_team_room(origin.chat)
        if isinstance(fact, CommandReceived) and fact.name in admin.COMMANDS:
            if room_space is not None or origin.private:
                await self.administration.handle(work, fact, room_space)
            return
        if room_space is not None:
            await self.teamwork.handle(work, fact, room_space)
            return
        if not origin.private:
            return  # a group that is not a team room: silence, answering could leak
        if self._is_team_action(fact):
            await self.teamwork.handle(work, fact, None)
            return
        if self.directory.responder_spaces(origin.sender) and await self.teamwork.private_flow(work, fact):
            return
        if isinstance(fact, AttachmentReceived) and await self.administration.awaiting_file(work, fact):
            return
        if not self._flood_allows(origin.chat, work.now, fact):
            if self._flood_warn(origin.chat):
                stored = await work.tx.conversation(origin.chat)
                await self.speaker.say(
                    work, origin.chat, texts.SLOW_DOWN, (stored.language if stored else None) or "en"
                )
            return
        await self._reporter(work, fact)

    def _flood_allows(self, chat: str, now: datetime, fact: ChatFact) -> bool:
        """A sliding minute per chat; an emergency always passes."""
        if isinstance(fact, CommandReceived) and fact.name in ("emergency", "sos"):
            return True
        if isinstance(fact, ChoicePicked) and fact.key == "sos":
            return True
        window = self._recent.setdefault(chat, deque())
        moment = now.timestamp()
        while window and window[0] <= moment - 60:
            window.popleft()
        if len(window) >= self.settings.flood_per_minute:
            return False
        window.append(moment)
        self._warned.discard(chat)
        if len(self._recent) > 50_000:
            for old in [c for c, w in self._recent.items() if not w or w[-1] <= moment - 60]:
                del self._recent[old]
        return True

    def _flood_warn(self, chat: str) -> bool:
        """Warn once per flood, then stay silent."""
        if chat in self._warned:
            return False
        self._warned.add(chat)
        return True

    async def tick(self, work: Work, timers: list[Timer]) -> None:
        """Fire due timers (each exactly once: the caller marks them fired in the same transaction)."""
        for timer in timers:
            if timer.kind == ESCALATE:
                await self.escalation.fire(work, timer)
            elif timer.kind in (UNCLAIMED, QUIET):
                await self.teamwork.remind(work, timer)
            elif timer.kind == HANDOVER:
                await self.escalation.handover(work, timer)
            await work.tx.finish_timer(timer.id, work.now)

    async def startup(self, work: Work) -> None:
        """Apply the coordinators' stored changes, then make sure every space with a rota has its next
        handover in the database."""
        await self.administration.load(work)
        scheduled = {str(t.data.get("space")) for t in await work.tx.pending_timers(HANDOVER)}
        for space in self.directory.spaces:
            if space.id not in scheduled:
                await self.escalation.schedule_handover(work, space, work.now)

    async def purge(self, work: Work) -> int:
        """Retention: erase closed cases older than the space's limit by destroying their keys.

        The case's header (category, urgency, times, outcome) stays for statistics; its content and
        messages can never be read again.
        """
        erased = 0
        for space in self.directory.spaces:
            cutoff = work.now - timedelta(days=space.handling.retention_days)
            for case in await work.tx.purgeable_cases(space.id, cutoff):
                assert case.id is not None
                await work.tx.destroy_case_content(case.id)
                await work.tx.add_event(
                    case.id, CaseEvent(work.now, "system", "purged", {"retention_days": space.handling.retention_days})
                )
                await work.tx.audit(work.now, space.id, "system", "case.purged", case.ref)
                erased += 1
        return erased

    async def sweep_drafts(self, work: Work) -> None:
        """Remind once about an idle draft, and delete it when it expires."""
        remind_before = work.now - self.settings.draft_remind_after
        for stored in await work.tx.idle_drafts(remind_before):
            conv = reporter.Conversation.from_json(stored.state)
            language = stored.language or "en"
            idle = work.now - (stored.updated_at or work.now)
            if idle >= self.settings.draft_expire_after:
                mode = reporter.Mode.IDLE if conv.mode in (reporter.Mode.REPORT, reporter.Mode.RESUME) else conv.mode
                stored.state = replace(conv, draft=None, mode=mode).to_json()
                stored.has_draft = False
                await self.speaker.say(work, stored.chat, texts.DRAFT_EXPIRED, language)
            elif not stored.reminded:
                stored.reminded = True
                await self.speaker.say(work, stored.chat, texts.DRAFT_REMINDER, language)
            else:
                continue
            await work.tx.save_conversation(stored)

    # --- the reporter's side -------------------------------------------------------------------

    async def _reporter(self, work: Work, fact: ChatFact) -> None:
        origin = fact.origin
        stored = await work.tx.conversation(origin.chat) or StoredConversation(chat=origin.chat)
        if isinstance(fact, CommandReceived) and fact.name == "start" and fact.args:
            argument = fact.args.strip()
            if argument.lower().startswith(("invite-", "signoff-")):
                kind, _, code = argument.partition("-")
                language = stored.language or self.translator.negotiate(origin.language_hint)
                if kind.lower() == "invite":
                    done = await self.administration.redeem_invite(work, fact, code)
                else:
                    done = await self._offer_signoff(work, stored, origin, code, language)
                if not done:
                    await self.speaker.say(work, origin.chat, texts.INVALID_CODE, language)
                return
            chosen = self.directory.get(argument.lower())
            if chosen is not None:
                stored.space = chosen.id
        space = self.directory.get(stored.space) or self.directory.only()
        ask_language = stored.language is None and not origin.language_hint
        if stored.language is None:
            stored.language = self.translator.negotiate(origin.language_hint, space.default_language if space else "en")
        known = await work.tx.reporter_by_identity(space.id, origin.sender) if space else None
        env = await self._env(work, stored, space, origin, known)
        if (
            space is not None
            and known is not None
            and known.blocked
            and not reporter.is_emergency(fact, env)
            and not (isinstance(fact, CommandReceived) and fact.name in ALLOWED_WHEN_BLOCKED)
        ):
            await self.speaker.say(
                work,
                origin.chat,
                lines(texts.BLOCKED, texts.contacts_block(space, (ContactKind.EMERGENCY,))),
                stored.language or "en",
            )
            return
        outcome = reporter.handle(stored.state, fact, env, ask_language=ask_language)
        stored.state = outcome.state
        await self._run(work, stored, origin, outcome.actions, env)
        if stored.state.get("_forgotten"):
            return
        conv = reporter.Conversation.from_json(stored.state)
        stored.has_draft = conv.draft is not None
        if stored.has_draft and conv.mode == reporter.Mode.REPORT:
            stored.reminded = False
        stored.updated_at = work.now
        draft_space = Draft.from_json(conv.draft).space if conv.draft else None
        if draft_space and stored.space is None:
            stored.space = draft_space
        await work.tx.save_conversation(stored)

    async def _env(
        self, work: Work, stored: StoredConversation, space: Space | None, origin: Origin, known: Reporter | None
    ) -> Env:
        language = stored.language or "en"
        cases: tuple[Case, ...] = ()
        if space is not None and known is not None:
            cases = tuple(await work.tx.cases(space=space.id, reporter=known.pseudonym))
        paused = await work.tx.setting(f"space.{space.id}.paused") if space else None
        return Env(
            now=work.now,
            render=self.speaker.renderer(language),
            spaces=self.directory.spaces,
            space=space,
            on_call=on_call(space, work.now) if space else (),
            cases=cases,
            languages=self.translator.languages,
            language_name=self.translator.language_name,
            max_text=self.settings.max_text,
            draft_ttl=self.settings.draft_expire_after,
            prefix=command_prefix(origin.chat),
            paused=paused,
        )

    async def _run(
        self, work: Work, stored: StoredConversation, origin: Origin, actions: tuple[Any, ...], env: Env
    ) -> None:
        replayed: ChatFact | None = None
        for action in actions:
            language = stored.language or "en"
            if isinstance(action, Reply):
                conv = reporter.Conversation.from_json(stored.state)
                await self.speaker.say(work, origin.chat, action.text, language, action.rows, conv.question)
            elif isinstance(action, SetLanguage):
                stored.language = action.language
                replayed = reporter.replay_fact(stored.state, origin)
                stored.state = {**stored.state, "replay": None}
                env = replace(env, render=self.speaker.renderer(action.language))
            elif isinstance(action, FileCase):
                await self._file(work, stored, origin, action, env)
            elif isinstance(action, AddToCase):
                await self._add_to_case(work, stored, origin, action)
            elif isinstance(action, UpdateCase):
                await self._update_case(work, stored, origin, action)
            elif isinstance(action, WithdrawCase):
                await self._withdraw(work, stored, origin, action.ref)
            elif isinstance(action, Forget):
                await self._forget(work, stored, origin)
            elif isinstance(action, SignOff):
                await self._sign_off(work, stored, origin, action)
        if replayed is not None:
            # The message held while the language was asked is answered after the confirmation.
            outcome = reporter.handle(stored.state, replayed, env)
            stored.state = outcome.state
            await self._run(work, stored, origin, outcome.actions, env)

    async def _reporter_record(self, work: Work, space: Space, origin: Origin, language: str) -> Reporter:
        found = await work.tx.reporter_by_identity(space.id, origin.sender)
        if found is not None:
            if found.chat != origin.chat or found.language != language:
                found = replace(found, chat=origin.chat, language=language)
                await work.tx.save_reporter(found)
            return found
        pseudonym = new_pseudonym()
        while await work.tx.reporter(space.id, pseudonym) is not None:
            pseudonym = new_pseudonym()
        created = Reporter(space.id, pseudonym, origin.chat, origin.sender, language)
        await work.tx.save_reporter(created)
        return created

    async def _file(self, work: Work, stored: StoredConversation, origin: Origin, action: FileCase, env: Env) -> None:
        draft = Draft.from_json(action.draft)
        space = self.directory.get(draft.space) or env.space or self.directory.only()
        if space is None:
            space = self.directory.spaces[0]
        language = stored.language or space.default_language
        who = await self._reporter_record(work, space, origin, language)
        ref = await work.new_reference()
        excluded = tuple(dict.fromkeys((*named_in(draft.involved, space.responders),)))
        if draft.whom == Whom.EXCEPT and draft.person:
            excluded = tuple(dict.fromkeys((*excluded, draft.person)))
        chosen = draft.person if draft.whom == Whom.SPECIFIC else None
        if chosen in excluded:
            chosen = None
        contact = draft.contact or Contact.ANONYMOUS
        urgency = action.urgency
        category = draft.category or (Category.OTHER)
        if urgency == Urgency.NORMAL and category in SERIOUS:
            urgency = Urgency.HIGH
        content = CaseContent(
            when_where=draft.when_where,
            involved=draft.involved,
            details=draft.details,
            attachments=draft.attachments,
            excluded=excluded,
            chosen=chosen,
            reporter_name=origin.sender_name if contact == Contact.NAMED else "",
        )
        case = await work.tx.add_case(
            Case(
                id=None,
                ref=ref,
                space=space.id,
                state=CaseState.OPEN,
                urgency=urgency,
                category=category,
                role=draft.role or Role.UNKNOWN,
                source=action.source,
                language=language,
                reporter=who.pseudonym,
                contact=contact,
                created_at=work.now,
                updated_at=work.now,
                content=content,
            )
        )
        assert case.id is not None
        await work.tx.add_event(
            case.id,
            CaseEvent(
                work.now,
                f"reporter:{who.pseudonym}",
                "filed",
                {"source": case.source.value, "urgency": urgency.value, "category": category.value},
            ),
        )
        await work.tx.audit(work.now, space.id, f"reporter:{who.pseudonym}", "case.filed", ref)
        case = await self._link_ban(work, case, space)
        await self._index_people(work, case, space, content.involved)
        if urgency == Urgency.EMERGENCY:
            # The reporter's emergency contacts go out before anything else, then the pages.
            stored.state = await self._receipt(work, stored, origin, case, space, env)
            await self.escalation.start(work, case, space)
        else:
            await self.escalation.start(work, case, space)
            stored.state = await self._receipt(work, stored, origin, case, space, env)
        stored.space = space.id

    async def _index_people(self, work: Work, case: Case, space: Space, involved: str) -> None:
        """Link the case to earlier ones that name the same person; tell the coordinators who may see it."""
        if case.id is None or not involved.strip():
            return
        await work.tx.index_people(space.id, case.id, involved)
        related = await work.tx.related_cases(space.id, case.id)
        if related:
            barred = excluded(case, space)
            notice = cards.same_person(
                case, len(related), command_prefix(space.team_rooms[0] if space.team_rooms else "telegram")
            )
            await self.escalation.tell_coordinators(work, space, notice, Lane.PAGE, exclude=tuple(barred))

    async def _link_ban(self, work: Work, case: Case, space: Space) -> Case:
        """A report naming someone under an active event ban is linked to the ban and raised in urgency."""
        content = case.content
        if content is None or case.linked_ban is not None or case.id is None:
            return case
        text = content.involved
        if case.category == Category.BANNED_PERSON:
            text = "\n".join((text, *content.details))
        bans = await work.tx.bans_matching(space.id, text, work.now) if text.strip() else []
        if not bans:
            return case
        urgency = Urgency.HIGH if case.urgency == Urgency.NORMAL else case.urgency
        linked = replace(case, linked_ban=bans[0].id, urgency=urgency)
        await work.tx.save_case(linked)
        await work.tx.add_event(case.id, CaseEvent(work.now, "system", "linked-ban", {"ban": bans[0].id}))
        return linked

    async def _receipt(
        self, work: Work, stored: StoredConversation, origin: Origin, case: Case, space: Space, env: Env
    ) -> dict[str, Any]:
        policy = space.policy(case.urgency)
        expected = next((s.after for s in policy.steps if s.after > timedelta(0)), policy.repeat_every)
        outcome = reporter.filed(stored.state, case, space, env, expected)
        lane = Lane.EMERGENCY if case.urgency == Urgency.EMERGENCY else Lane.CONVERSATION
        conv = reporter.Conversation.from_json(outcome.state)
        language = stored.language or "en"
        for action in outcome.actions:
            if isinstance(action, Reply):
                await self.speaker.say(work, origin.chat, action.text, language, action.rows, conv.question, lane)
        return outcome.state

    async def _offer_signoff(
        self, work: Work, stored: StoredConversation, origin: Origin, code: str, language: str
    ) -> bool:
        """``start signoff-CODE``: link the reporter to a verbal report and show them its record."""
        found = await work.tx.use_code(code, origin.sender, work.now)
        case = (
            await work.tx.case(CaseRef(str(found.data.get("ref", "")))) if found and found.kind == "signoff" else None
        )
        space = self.directory.get(case.space) if case else None
        if case is None or space is None or case.id is None or case.content is None:
            return False
        stored.language = stored.language or language
        who = await self._reporter_record(work, space, origin, stored.language)
        content, case_id = case.content, case.id
        if case.reporter is None:
            case = replace(case, reporter=who.pseudonym, updated_at=work.now)
            await work.tx.save_case(case)
        await work.tx.add_event(case_id, CaseEvent(work.now, f"reporter:{who.pseudonym}", "signoff-opened"))
        record = texts.verbal_record(case.category, content.when_where, content.involved, content.details)
        outcome = reporter.offer_signoff(stored.state, case.ref, texts.signoff_record(case.ref, record))
        stored.state = outcome.state
        stored.space = space.id
        conv = reporter.Conversation.from_json(stored.state)
        for action in outcome.actions:
            if isinstance(action, Reply):
                await self.speaker.say(work, origin.chat, action.text, stored.language, action.rows, conv.question)
        stored.updated_at = work.now
        await work.tx.save_conversation(stored)
        return True

    async def _sign_off(self, work: Work, stored: StoredConversation, origin: Origin, action: SignOff) -> None:
        case = await self._own_case(work, stored, origin, action.ref)
        space = self.directory.get(case.space) if case else None
        if case is None or space is None or case.id is None:
            return
        updated = replace(case, signed_off=action.confirmed, updated_at=work.now)
        await work.tx.save_case(updated)
        kind = "signed-off" if action.confirmed else "correction-requested"
        await work.tx.add_event(case.id, CaseEvent(work.now, f"reporter:{case.reporter}", kind))
        await self.escalation.update_cards(work, updated, space)
        note = cards.signed_off(updated) if action.confirmed else cards.correction_requested(updated)
        for key in updated.assignees:
            person = space.person(key)
            if person is not None:
                await self.speaker.tell(work, person, space, note, case=updated.ref)

    async def _own_case(self, work: Work, stored: StoredConversation, origin: Origin, ref: CaseRef) -> Case | None:
        """A case of this reporter, or None: a reporter can never touch someone else's case."""
        case = await work.tx.case(ref)
        if case is None or case.reporter is None:
            return None
        who = await work.tx.reporter_by_identity(case.space, origin.sender)
        return case if who is not None and who.pseudonym == case.reporter else None

    async def _add_to_case(self, work: Work, stored: StoredConversation, origin: Origin, action: AddToCase) -> None:
        case = await self._own_case(work, stored, origin, action.ref)
        if case is None or case.id is None or case.content is None:
            return
        body = action.body
        if action.attachment is not None:
            attachment = action.attachment
            content = replace(case.content, attachments=(*case.content.attachments, attachment))
            await work.tx.save_case(replace(case, content=content, updated_at=work.now))
            body = f"[{attachment.kind}] {attachment.name} {action.body}".strip()
        elif action.kind == "location":
            await work.tx.save_case(
                replace(case, content=replace(case.content, location=action.body), updated_at=work.now)
            )
        await work.tx.add_message(case.id, CaseMessage(work.now, f"reporter:{case.reporter}", action.kind, body))
        await work.tx.add_event(
            case.id,
            CaseEvent(work.now, f"reporter:{case.reporter}", "reporter-message", {"kind": action.kind}),
        )
        space = self.directory.get(case.space)
        if space is None:
            return
        recipients: list[str] = list(case.assignees)
        if not recipients and case.urgency == Urgency.EMERGENCY:
            recipients = await self.escalation.paged_people(work, case)
        lane = (
            Lane.EMERGENCY if case.urgency == Urgency.EMERGENCY and case.state == CaseState.OPEN else Lane.CONVERSATION
        )
        for key in recipients:
            person = space.person(key)
            if person is not None:
                await self.speaker.tell(
                    work, person, space, cards.reporter_wrote(case, action.kind, body), lane, case=case.ref
                )
        if recipients:
            await work.tx.audit(work.now, case.space, "system", "case.relayed", case.ref, f"to {len(recipients)}")

    async def _update_case(self, work: Work, stored: StoredConversation, origin: Origin, action: UpdateCase) -> None:
        case = await self._own_case(work, stored, origin, action.ref)
        if case is None or case.id is None:
            return
        space = self.directory.get(case.space)
        changes = action.changes
        updated = case
        if "role" in changes:
            updated = replace(updated, role=Role(changes["role"]))
        if "category" in changes:
            category = Category(changes["category"])
            urgency = updated.urgency
            if urgency == Urgency.NORMAL and category in SERIOUS:
                urgency = Urgency.HIGH
            updated = replace(updated, category=category, urgency=urgency)
        if "contact" in changes:
            contact = Contact(changes["contact"])
            content = updated.content or CaseContent()
            name = origin.sender_name if contact == Contact.NAMED else ""
            updated = replace(updated, contact=contact, content=replace(content, reporter_name=name))
        if "involved" in changes and space is not None:
            content = updated.content or CaseContent()
            conflicts = named_in(changes["involved"], space.responders)
            updated = replace(
                updated,
                content=replace(
                    content,
                    involved=changes["involved"],
                    excluded=tuple(dict.fromkeys((*content.excluded, *conflicts))),
                ),
            )
        updated = replace(updated, updated_at=work.now)
        await work.tx.save_case(updated)
        if space is not None:
            updated = await self._link_ban(work, updated, space)
            if "involved" in changes:
                await self._index_people(work, updated, space, changes["involved"])
        await work.tx.add_event(
            case.id,
            CaseEvent(work.now, f"reporter:{case.reporter}", "details-added", {"fields": sorted(changes)}),
        )
        if space is not None and (updated.category != case.category or updated.urgency != case.urgency):
            await self.escalation.update_cards(work, updated, space)

    async def _withdraw(self, work: Work, stored: StoredConversation, origin: Origin, ref: CaseRef) -> None:
        case = await self._own_case(work, stored, origin, ref)
        if case is None or case.id is None or not case.is_open:
            return
        updated = case.with_state(CaseState.WITHDRAWN, work.now)
        await work.tx.save_case(updated)
        await self.escalation.stop(work, updated)
        await work.tx.add_event(case.id, CaseEvent(work.now, f"reporter:{case.reporter}", "withdrawn"))
        space = self.directory.get(case.space)
        if space is not None:
            await self.speaker.to_room(work, space, cards.withdrawn(case), case.ref)
            await self.escalation.update_cards(work, updated, space)

    async def _forget(self, work: Work, stored: StoredConversation, origin: Origin) -> None:
        open_refs: list[CaseRef] = []
        closed = 0
        for space in self.directory.spaces:
            who = await work.tx.reporter_by_identity(space.id, origin.sender)
            if who is None:
                continue
            for case in await work.tx.cases(space=space.id, reporter=who.pseudonym):
                assert case.id is not None
                if case.is_open:
                    open_refs.append(case.ref)
                else:
                    await work.tx.destroy_case_content(case.id)
                    closed += 1
                await work.tx.add_event(case.id, CaseEvent(work.now, f"reporter:{who.pseudonym}", "reporter-forgot"))
            await work.tx.unlink_reporter(space.id, who.pseudonym)
            await work.tx.audit(work.now, space.id, f"reporter:{who.pseudonym}", "reporter.forget", space.id)
        language = stored.language or "en"
        await work.tx.delete_conversation(origin.chat)
        await self.speaker.say(work, origin.chat, texts.forgotten(open_refs, closed), language)
        stored.state = {"_forgotten": True}

    # --- the team's side -----------------------------------------------------------------------

    @staticmethod
    def _is_team_action(fact: ChatFact) -> bool:
        if isinstance(fact, CommandReceived):
            return fact.name in RESPONDER_COMMANDS
        if isinstance(fact, ChoicePicked):
            return fact.key.split(":", 1)[0] in ("ack", "claim", "join")
        return False

    async def _delivery_failed(self, work: Work, fact: DeliveryFailed) -> None:
        """A person could not be reached: tell the coordinators (and the next step pages others)."""
        if fact.person is None or fact.case is None:
            return
        case = await work.tx.case(fact.case)
        space = self.directory.get(case.space) if case else None
        if case is None or space is None:
            return
        person = space.person(fact.person)
        name = person.name if person else fact.person
        await work.tx.audit(work.now, case.space, "system", "page.unreachable", case.ref, fact.reason)
        await self.escalation.tell_coordinators(
            work, space, cards.unreachable(name, fact.reason, case), Lane.PAGE, exclude=(fact.person,)
        )
        if fact.lane <= Lane.PAGE:
            await self.escalation.page_instead(work, case, space, Identity(person.key if person else fact.person))
