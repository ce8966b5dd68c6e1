"""Coordinator commands (SPEC 6): team, invites, rota, overrides, policies, contacts, code word, bans,
pausing intake, statistics, the post-incident export and the audit trail.

Only the space's coordinators may run them; anyone else gets a refusal that reveals nothing. Every
change is stored (it survives restarts, see :mod:`bot.overlay`), applied to the running directory
once the transaction commits, and written to the audit trail.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot import charts, overlay
from bot.config import parse_policy
from bot.directory import Directory
from bot.domain.ids import CaseRef, ChatAddress, Identity, Pseudonym, SpaceId, command_prefix, platform_of
from bot.domain.model import Category, Lane, Person, Urgency
from bot.domain.reference import new_code, parse_reference
from bot.domain.rota import Override, Rota, Shift, WeeklyShift
from bot.domain.routing import excluded, on_call
from bot.domain.space import Space
from bot.domain.stats import compute
from bot.escalation import HANDOVER, Escalation
from bot.i18n import Renderable, lines, t, tn
from bot.messages import AttachmentReceived, ChatFact, CommandReceived, FetchFile, FileFetched, SendFile
from bot.ports import Change, Code, StoredConversation
from bot.speaker import Speaker
from bot.work import Work
from flows import admin, export, team, texts
from flows.admin import Admin

INVITE_VALID = timedelta(days=7)
FILE_WAIT = timedelta(minutes=10)


class Administration:
    def __init__(self, directory: Directory, speaker: Speaker, escalation: Escalation) -> None:
        self.directory = directory
        self.speaker = speaker
        self.escalation = escalation
        self.baseline: dict[SpaceId, Space] = {space.id: space for space in directory.spaces}
        self.sources: dict[SpaceId, dict[str, Change | None]] = {}
        self.seen: dict[SpaceId, dict[str, datetime]] = {}

    # --- the overlay of changes over the file ----------------------------------------------------

    async def load(self, work: Work) -> None:
        """At start: note which file values changed, then apply the stored changes that still win."""
        for base in self.baseline.values():
            await self._refresh(work, base)

    async def _seen(self, work: Work, base: Space) -> dict[str, datetime]:
        """When each value of the file was first seen (the file cannot change while Haven runs)."""
        if base.id in self.seen:
            return self.seen[base.id]
        seen = {
            key: await work.tx.file_value_seen(base.id, key, overlay.digest(overlay.file_value(base, key)), work.now)
            for key in overlay.FILE_KEYS
        }
        work.after_commit.append(lambda: self.seen.__setitem__(base.id, seen))
        return seen

    async def _refresh(self, work: Work, base: Space) -> Space:
        seen = await self._seen(work, base)
        effective, sources = overlay.apply(base, await work.tx.changes(base.id), seen)

        def publish() -> None:
            self.directory.replace(effective)
            self.sources[base.id] = sources

        work.after_commit.append(publish)
        publish()  # the rest of this unit of work sees it too; a rollback restarts from the database
        return effective

    async def _change(self, work: Work, space: Space, key: str, value: Any, actor: str, action: str) -> Space:
        await work.tx.save_change(space.id, Change(key, value, work.now, actor))
        await work.tx.audit(work.now, space.id, actor, action, space.id)
        return await self._refresh(work, self.baseline[space.id])

    def source(self, space: Space, key: str) -> Renderable:
        change = self.sources.get(space.id, {}).get(key)
        if change is None:
            return admin.source_note(None, None)
        who = space.person(change.changed_by)
        local = change.changed_at.astimezone(ZoneInfo(space.timezone)).strftime("%Y-%m-%d %H:%M")
        return admin.source_note(who.name if who else change.changed_by, local)

    # --- dispatch ----------------------------------------------------------------------------------

    async def handle(self, work: Work, fact: CommandReceived, room: Space | None) -> None:
        origin = fact.origin
        prefix = command_prefix(origin.chat)
        if room is not None:
            space: Space | None = room if room.is_coordinator(origin.sender) else None
            if space is None:
                await self._say(work, fact, room, admin.NOT_A_COORDINATOR)
                return
        else:
            mine = [s for s in self.directory.spaces if s.is_coordinator(origin.sender)]
            if not mine:
                await self._say(work, fact, None, admin.NOT_A_COORDINATOR)
                return
            if len(mine) > 1:
                await self._say(work, fact, mine[0], admin.WHICH_SPACE)
                return
            space = mine[0]
        command = admin.parse(fact.name, fact.args, prefix)
        if isinstance(command, admin.Problem):
            await self._say(work, fact, space, command.text)
            return
        person = space.person(origin.sender)
        actor = person.key if person else origin.sender
        handler = getattr(self, f"_{command.name}")
        await handler(work, fact, space, actor, command, prefix)

    async def _say(self, work: Work, fact: ChatFact, space: Space | None, text: Renderable) -> None:
        origin = fact.origin
        language = space.team_language if space else "en"
        if space is not None and origin.private:
            language = self.speaker.language_of(space.person(origin.sender), space)
        await self.speaker.say(work, origin.chat, text, language)

    def _resolve(self, space: Space, who: str) -> Person | None:
        folded = who.strip().lower()
        for person in space.responders:
            if person.name.lower() == folded or who in person.identities:
                return person
        return None

    # --- team --------------------------------------------------------------------------------------

    async def _team(self, work: Work, fact: ChatFact, space: Space, actor: str, command: Admin, prefix: str) -> None:
        if command.action == "list":
            rows: list[Renderable] = [
                t("Team of {space} {source}:", space=space.name, source=self.source(space, overlay.TEAM))
            ]
            for person in space.responders:
                role = t("coordinator") if space.is_coordinator(person.key) else t("responder")
                rows.append(
                    t(
                        "• {name} ({languages}) · {role} · {ids}",
                        name=person.name,
                        languages=", ".join(person.languages),
                        role=role,
                        ids=", ".join(person.identities),
                    )
                )
            await self._say(work, fact, space, lines(*rows))
            return
        if command.action == "add":
            if platform_of(command.identity) not in self.speaker.platforms:
                await self._say(
                    work,
                    fact,
                    space,
                    t("{identity} is on a platform this bot does not run.", identity=command.identity),
                )
                return
            if space.person(command.identity) is not None:
                await self._say(work, fact, space, t("{identity} is already in the team.", identity=command.identity))
                return
            added = Person((Identity(command.identity),), command.display_name, command.languages)
            space = await self._change(
                work, space, overlay.TEAM, overlay.encode_team((*space.responders, added)), actor, "team.add"
            )
            if command.coordinator:
                space = await self._change(
                    work,
                    space,
                    overlay.COORDINATORS,
                    [*space.coordinators, command.identity],
                    actor,
                    "team.coordinator",
                )
            await self._say(
                work,
                fact,
                space,
                t(
                    "Added {name} ({languages}). They must open a private chat with the bot before it can page them; an invite makes that easy: {command}",
                    name=added.name,
                    languages=", ".join(added.languages),
                    command=f'{prefix}invite "{added.name}"',
                ),
            )
            return
        leaving = self._resolve(space, command.who)
        if leaving is None:
            await self._say(work, fact, space, t("There is nobody called {who} in the team.", who=command.who))
            return
        remaining = tuple(p for p in space.responders if p.key != leaving.key)
        space = await self._change(work, space, overlay.TEAM, overlay.encode_team(remaining), actor, "team.remove")
        if any(i in space.coordinators for i in leaving.identities):
            kept = [c for c in space.coordinators if c not in leaving.identities]
            space = await self._change(work, space, overlay.COORDINATORS, kept, actor, "team.coordinator")
        await self._say(work, fact, space, t("Removed {name} from the team.", name=leaving.name))

    async def _invite(self, work: Work, fact: ChatFact, space: Space, actor: str, command: Admin, prefix: str) -> None:
        code = new_code()
        await work.tx.add_code(
            code,
            Code(
                "invite",
                space.id,
                {"name": command.display_name, "languages": list(command.languages)},
                actor,
                work.now + INVITE_VALID,
            ),
            work.now,
        )
        await work.tx.audit(work.now, space.id, actor, "team.invite", space.id, command.display_name)
        ways: list[Renderable] = []
        if "telegram" in self.speaker.platforms:
            username = await work.tx.setting("telegram.username")
            link = f"https://t.me/{username}?start=invite-{code}" if username else f"/start invite-{code}"
            ways.append(t("On Telegram: {link}", link=link))
        if "matrix" in self.speaker.platforms:
            user = await work.tx.setting("matrix.user_id") or "the bot"
            ways.append(
                t("On Matrix: send {command} to {bot} in a private chat", command=f"!start invite-{code}", bot=user)
            )
        if not ways:
            ways.append(f"start invite-{code}")
        await self._say(
            work,
            fact,
            space,
            lines(t("Invite for {name}, valid for 7 days and for one person:", name=command.display_name), *ways),
        )

    async def redeem_invite(self, work: Work, fact: ChatFact, code: str) -> bool:
        """``start invite-CODE``: the sender joins the team. Returns False if the code is not valid."""
        found = await work.tx.use_code(code, fact.origin.sender, work.now)
        if found is None or found.kind != "invite":
            return False
        space = self.directory.get(found.space)
        if space is None:
            return False
        name = str(found.data.get("name", "")) or fact.origin.sender_name or "—"
        languages = tuple(found.data.get("languages", ("en",)))
        if space.person(fact.origin.sender) is None:
            person = Person((Identity(fact.origin.sender),), name, languages)
            space = await self._change(
                work,
                space,
                overlay.TEAM,
                overlay.encode_team((*space.responders, person)),
                fact.origin.sender,
                "team.join",
            )
        person_now = space.person(fact.origin.sender)
        assert person_now is not None
        await self.speaker.tell(
            work,
            person_now,
            space,
            t("Welcome to the response team of {space}, {name}. You will get pages here.", space=space.name, name=name),
        )
        await self.escalation.tell_coordinators(
            work, space, t("{name} joined the team with an invite.", name=name), Lane.CONVERSATION
        )
        return True

    # --- rota and overrides ------------------------------------------------------------------------

    async def _rota(self, work: Work, fact: ChatFact, space: Space, actor: str, command: Admin, prefix: str) -> None:
        if command.action == "show":
            await self._say(work, fact, space, self.rota_text(space, work.now))
            if command.picture:
                png = charts.rota_png(space, work.now)
                await work.send(
                    SendFile(fact.origin.chat, f"rota-{space.id}.png", "image/png", png, space.name), Lane.CONVERSATION
                )
            return
        if command.action == "clear":
            space = await self._change(work, space, overlay.ROTA, None, actor, "rota.clear")
            await self._reschedule_handover(work, space)
            await self._say(work, fact, space, t("The rota is cleared: everyone in the team is on call all the time."))
            return
        shifts: list[Shift] = []
        weekly: list[WeeklyShift] = []
        for entry in command.shifts:
            people = [self._resolve(space, who) for who in entry.who]
            unknown = [who for who, person in zip(entry.who, people, strict=True) if person is None]
            if unknown:
                await self._say(
                    work,
                    fact,
                    space,
                    t(
                        "There is nobody called {who} in the team. Add them first: {command}",
                        who=", ".join(unknown),
                        command=f"{prefix}team add …",
                    ),
                )
                return
            keys = tuple(p.key for p in people if p is not None)
            if entry.start is not None and entry.end is not None:
                shifts.append(Shift(keys, entry.start, entry.end))
            elif entry.from_time is not None and entry.to_time is not None:
                weekly.append(WeeklyShift(keys, entry.days, entry.from_time, entry.to_time))
        rota = Rota(space.timezone, tuple(shifts), tuple(weekly))
        space = await self._change(work, space, overlay.ROTA, overlay.encode_rota(rota), actor, "rota.set")
        await self._reschedule_handover(work, space)
        await self._say(work, fact, space, self.rota_text(space, work.now))

    async def _reschedule_handover(self, work: Work, space: Space) -> None:
        for timer in await work.tx.pending_timers(HANDOVER):
            if timer.data.get("space") == space.id:
                await work.tx.finish_timer(timer.id, work.now)
        await self.escalation.schedule_handover(work, space, work.now)

    def rota_text(self, space: Space, now: datetime) -> Renderable:
        zone = ZoneInfo(space.timezone)
        rows: list[Renderable] = [
            t("Rota of {space} {source}:", space=space.name, source=self.source(space, overlay.ROTA))
        ]
        if space.rota is None:
            rows.append(t("No rota: everyone in the team is on call all the time."))
        else:
            horizon = now + timedelta(days=3)
            for window in sorted(space.rota.windows(now, horizon), key=lambda w: w.start):
                names = ", ".join(p.name for p in space.responders if p.key in window.responders)
                rows.append(
                    f"• {window.start.astimezone(zone):%a %d %b %H:%M} – {window.end.astimezone(zone):%a %H:%M}  {names}"
                )
            for override in space.rota.overrides:
                if override.end > now:
                    covering = space.person(override.covering)
                    covered = space.person(override.covered) if override.covered else None
                    rows.append(
                        t(
                            "• override: {name} from {start} to {end}{instead}",
                            name=covering.name if covering else override.covering,
                            start=f"{override.start.astimezone(zone):%a %d %b %H:%M}",
                            end=f"{override.end.astimezone(zone):%a %H:%M}",
                            instead=f" ({covered.name})" if covered else "",
                        )
                    )
        following = space.rota.next_change(now) if space.rota else None
        later = (following[0], [p for p in space.responders if p.key in following[1]]) if following else None
        rows.append(team.oncall(space, on_call(space, now), later))
        return lines(*rows)

    async def _override(
        self, work: Work, fact: ChatFact, space: Space, actor: str, command: Admin, prefix: str
    ) -> None:
        if space.rota is None or (not space.rota.shifts and not space.rota.weekly):
            await self._say(
                work,
                fact,
                space,
                t(
                    "There is no rota, so everyone is on call; an override would change nothing. Set a rota first: {command}",
                    command=f"{prefix}rota set …",
                ),
            )
            return
        covering = self._resolve(space, command.who)
        covered = self._resolve(space, command.covered) if command.covered else None
        if covering is None or (command.covered and covered is None):
            await self._say(
                work,
                fact,
                space,
                t(
                    "There is nobody called {who} in the team.",
                    who=command.who if covering is None else command.covered,
                ),
            )
            return
        zone = ZoneInfo(space.timezone)
        start = command.start.replace(tzinfo=zone).astimezone(work.now.tzinfo) if command.start else work.now
        if command.end is not None:
            end = command.end.replace(tzinfo=zone).astimezone(work.now.tzinfo)
        else:
            assert command.duration is not None
            end = start + command.duration
        if end <= start or end <= work.now:
            await self._say(work, fact, space, t("The override must end after it starts, and in the future."))
            return
        current = [o for o in space.rota.overrides if o.end > work.now]
        clash = next((o for o in current if o.covering == covering.key and o.start < end and start < o.end), None)
        if clash is not None:
            await self._say(
                work,
                fact,
                space,
                t(
                    "{name} already has an override from {start} to {end}. Choose another time.",
                    name=covering.name,
                    start=f"{clash.start.astimezone(zone):%a %H:%M}",
                    end=f"{clash.end.astimezone(zone):%a %H:%M}",
                ),
            )
            return
        added = Override(covering.key, start, end, covered.key if covered else None)
        space = await self._change(
            work, space, overlay.OVERRIDES, overlay.encode_overrides((*current, added)), actor, "rota.override"
        )
        await self._reschedule_handover(work, space)
        await self._say(
            work,
            fact,
            space,
            t(
                "{name} is on call from {start} to {end}{instead}.",
                name=covering.name,
                start=f"{start.astimezone(zone):%a %d %b %H:%M}",
                end=f"{end.astimezone(zone):%a %H:%M}",
                instead=f" ({covered.name})" if covered else "",
            ),
        )

    # --- policies, contacts, code word -------------------------------------------------------------

    async def _policy(self, work: Work, fact: ChatFact, space: Space, actor: str, command: Admin, prefix: str) -> None:
        if command.action == "set":
            data: dict[str, Any] = {
                "steps": [
                    {"after": f"{int(after.total_seconds())}s", "notify": target} for after, target in command.steps
                ]
            }
            if command.repeat is not None:
                data["repeat_every"] = f"{int(command.repeat.total_seconds())}s"
            policy, problems = parse_policy(data, f"policy.{command.urgency}")
            if policy is None or problems:
                details = "; ".join(f"{p.what} ({p.fix})" for p in problems) or "—"
                await self._say(
                    work,
                    fact,
                    space,
                    t("That policy cannot be used, and the previous one stays in force: {details}", details=details),
                )
                return
            urgency = Urgency(command.urgency)
            space = await self._change(
                work, space, overlay.POLICY[urgency], overlay.encode_policy(policy), actor, "policy.set"
            )
        await self._say(work, fact, space, self.policy_text(space))

    def policy_text(self, space: Space) -> Renderable:
        rows: list[Renderable] = [t("Escalation policies of {space}:", space=space.name)]
        for urgency in Urgency:
            policy = space.policy(urgency)
            steps = ", ".join(f"{admin.duration_text(s.after)} → {s.notify.value}" for s in policy.steps)
            repeat = admin.duration_text(policy.repeat_every) if policy.repeat_every else "—"
            rows.append(
                t(
                    "• {urgency}: {steps}; repeat every {repeat} {source}",
                    urgency=texts.URGENCY[urgency],
                    steps=steps,
                    repeat=repeat,
                    source=self.source(space, overlay.POLICY[urgency]),
                )
            )
        return lines(*rows)

    async def _contacts(
        self, work: Work, fact: ChatFact, space: Space, actor: str, command: Admin, prefix: str
    ) -> None:
        if command.action in ("add", "clear"):
            assert command.kind is not None
            contacts = dict(space.contacts)
            contacts[command.kind] = (*contacts.get(command.kind, ()), command.text) if command.action == "add" else ()
            space = await self._change(
                work, space, overlay.CONTACTS, overlay.encode_contacts(contacts), actor, "contacts.set"
            )
        shown = texts.contacts_block(space) or t("No contacts yet.")
        await self._say(work, fact, space, lines(shown, self.source(space, overlay.CONTACTS)))

    async def _codeword(
        self, work: Work, fact: ChatFact, space: Space, actor: str, command: Admin, prefix: str
    ) -> None:
        if command.action in ("set", "clear"):
            value = command.text if command.action == "set" else None
            space = await self._change(work, space, overlay.CODE_WORD, value, actor, "codeword.set")
        if space.code_word:
            text: Renderable = t(
                "The code word is “{word}” {source}.",
                word=space.code_word,
                source=self.source(space, overlay.CODE_WORD),
            )
        else:
            text = t("There is no code word {source}.", source=self.source(space, overlay.CODE_WORD))
        await self._say(work, fact, space, text)

    # --- bans --------------------------------------------------------------------------------------

    async def _ban(self, work: Work, fact: ChatFact, space: Space, actor: str, command: Admin, prefix: str) -> None:
        zone = ZoneInfo(space.timezone)
        if command.action == "add":
            expires = None
            if command.duration is not None:
                expires = work.now + command.duration
            elif command.end is not None:
                expires = command.end.replace(tzinfo=zone).astimezone(work.now.tzinfo)
            ban_id = await work.tx.add_ban(space.id, command.display_name, command.text, actor, work.now, expires)
            await work.tx.audit(work.now, space.id, actor, "ban.add", space.id, f"#{ban_id}")
            until = f"{expires.astimezone(zone):%Y-%m-%d %H:%M}" if expires else "—"
            await self._say(
                work,
                fact,
                space,
                t(
                    "Ban #{number} added for {name}, until {until}.",
                    number=ban_id,
                    name=command.display_name,
                    until=until,
                ),
            )
            return
        if command.action == "remove":
            removed = await work.tx.remove_ban(space.id, command.number, work.now)
            if removed:
                await work.tx.audit(work.now, space.id, actor, "ban.remove", space.id, f"#{command.number}")
            text = (
                t("Ban #{number} removed.", number=command.number)
                if removed
                else t("There is no active ban #{number}.", number=command.number)
            )
            await self._say(work, fact, space, text)
            return
        if command.action == "check":
            if not command.lines:
                await self._await_file(work, fact, space)
                await self._say(work, fact, space, admin.SEND_THE_LIST)
                return
            await self._check_names(work, fact.origin.chat, fact.origin.sender, space, actor, command.lines)
            return
        active = [b for b in await work.tx.bans(space.id) if b.active(work.now)]
        rows = [t("Active event bans in {space}:", space=space.name)] if active else [t("No active event bans.")]
        for ban in active:
            until = f"{ban.expires_at.astimezone(zone):%Y-%m-%d %H:%M}" if ban.expires_at else "—"
            rows.append(
                t(
                    "• #{number} {name} · until {until} · {reason}",
                    number=ban.id,
                    name=ban.label,
                    until=until,
                    reason=ban.reason or "—",
                )
            )
        await self._say(work, fact, space, lines(*rows))

    async def _check_names(
        self, work: Work, chat: ChatAddress, sender: str, space: Space, actor: str, names: tuple[str, ...]
    ) -> None:
        rows: list[Renderable] = []
        for line in names:
            for ban in await work.tx.bans_matching(space.id, line.replace(";", " "), work.now):
                rows.append(t("⚠ {line} → ban #{number} ({name})", line=line, number=ban.id, name=ban.label))
        await work.tx.audit(work.now, space.id, actor, "ban.check", space.id, f"{len(names)} names")
        summary = t("{matches} of {count} names match an active ban.", matches=len(rows), count=len(names))
        language = self.speaker.language_of(space.person(sender), space)
        await self.speaker.say(work, chat, lines(summary, *rows), language)

    # --- registration lists sent as files -----------------------------------------------------------

    @staticmethod
    def _file_state(sender: str) -> ChatAddress:
        return ChatAddress(f"{sender}#admin")

    async def _await_file(self, work: Work, fact: ChatFact, space: Space) -> None:
        """The coordinator's next file in a private chat (within ten minutes) is the list to check."""
        until = (work.now + FILE_WAIT).timestamp()
        state = {"awaiting": "ban-list", "space": space.id, "until": until}
        await work.tx.save_conversation(
            StoredConversation(self._file_state(fact.origin.sender), None, space.id, state, work.now)
        )

    async def awaiting_file(self, work: Work, fact: AttachmentReceived) -> bool:
        """A file a coordinator sends after ``ban check``: queue its download. False if none was awaited."""
        origin = fact.origin
        stored = await work.tx.conversation(self._file_state(origin.sender))
        if stored is None or stored.state.get("awaiting") != "ban-list":
            return False
        await work.tx.delete_conversation(self._file_state(origin.sender))
        space = self.directory.get(str(stored.state.get("space", "")))
        if (
            space is None
            or not space.is_coordinator(origin.sender)
            or float(stored.state.get("until", 0)) < work.now.timestamp()
        ):
            return False
        context = {"space": space.id, "sender": origin.sender}
        await work.send(FetchFile(origin.chat, fact.attachment.ref, "ban-check", context), Lane.CONVERSATION)
        await self._say(work, fact, space, admin.READING_THE_LIST)
        return True

    async def file_fetched(self, work: Work, fact: FileFetched) -> None:
        space = self.directory.get(fact.context.get("space"))
        sender = fact.context.get("sender", "")
        if fact.purpose != "ban-check" or space is None or not space.is_coordinator(sender):
            return
        names = admin.registrants(fact.data) if fact.data else ()
        if not names:
            language = self.speaker.language_of(space.person(sender), space)
            await self.speaker.say(work, fact.chat, admin.UNREADABLE_LIST, language)
            return
        person = space.person(sender)
        await self._check_names(work, fact.chat, sender, space, person.key if person else sender, names)

    # --- intake, figures, export, audit ------------------------------------------------------------

    async def _pause(self, work: Work, fact: ChatFact, space: Space, actor: str, command: Admin, prefix: str) -> None:
        await work.tx.set_setting(f"space.{space.id}.paused", command.text)
        await work.tx.audit(work.now, space.id, actor, "intake.pause", space.id)
        await self.speaker.to_room(
            work,
            space,
            t(
                "⏸ New reports are paused. Reporters are told: {message} Emergencies still come through.",
                message=command.text or "—",
            ),
        )
        if fact.origin.chat not in space.team_rooms:
            await self._say(
                work,
                fact,
                space,
                t("Paused. Emergencies still come through. Resume with {command}", command=f"{prefix}resume"),
            )

    async def _resume(self, work: Work, fact: ChatFact, space: Space, actor: str, command: Admin, prefix: str) -> None:
        await work.tx.set_setting(f"space.{space.id}.paused", None)
        await work.tx.audit(work.now, space.id, actor, "intake.resume", space.id)
        await self.speaker.to_room(work, space, t("▶ New reports are open again."))
        if fact.origin.chat not in space.team_rooms:
            await self._say(work, fact, space, t("Resumed."))

    async def _figures(self, work: Work, space: Space) -> Any:
        cases = await work.tx.cases(space=space.id)
        events = {case.id: await work.tx.events(case.id) for case in cases if case.id is not None}
        return cases, compute(cases, events, space.handling.pairs)

    async def _stats(self, work: Work, fact: ChatFact, space: Space, actor: str, command: Admin, prefix: str) -> None:
        _, stats = await self._figures(work, space)
        await work.tx.audit(work.now, space.id, actor, "stats.read", space.id)
        await self._say(work, fact, space, export.stats_text(space.name, stats))

    async def _export(self, work: Work, fact: ChatFact, space: Space, actor: str, command: Admin, prefix: str) -> None:
        cases, stats = await self._figures(work, space)
        answers: list[tuple[int, str]] = []
        if command.with_text:
            for case in cases:
                if case.id is None:
                    continue
                for message in await work.tx.messages(case.id):
                    if message.kind == "review":
                        number, _, text = message.body.partition(":")
                        answers.append((int(number) if number.isdigit() else 0, text.strip()))
        language = self.speaker.language_of(space.person(fact.origin.sender), space)
        start = min((c.created_at for c in cases), default=work.now)
        document = self.speaker.render(export.document(space.name, (start, work.now), stats, answers), language)
        chart = charts.export_png(
            space.name,
            {self.speaker.render(texts.CATEGORY[Category(k)], language): v for k, v in stats.by_category.items()},
            stats.ack_minutes,
        )
        await work.tx.audit(
            work.now, space.id, actor, "export", space.id, "with text" if command.with_text else "figures only"
        )
        to = ChatAddress(fact.origin.sender) if not fact.origin.private else fact.origin.chat
        stamp = f"{work.now:%Y%m%d}"
        await work.send(
            SendFile(to, f"haven-{space.id}-{stamp}.md", "text/markdown", document.encode(), space.name), Lane.BULK
        )
        await work.send(SendFile(to, f"haven-{space.id}-{stamp}.png", "image/png", chart, space.name), Lane.BULK)
        if not fact.origin.private:
            await self._say(work, fact, space, t("The report was sent to you privately."))

    async def _related(self, work: Work, fact: ChatFact, space: Space, actor: str, command: Admin, prefix: str) -> None:
        ref = parse_reference(command.reference)
        case = await work.tx.case(ref) if ref else None
        if case is None or case.id is None or case.space != space.id or actor in excluded(case, space):
            await self._say(work, fact, space, team.unknown_case(CaseRef(command.reference.upper())))
            return
        visible: list[Renderable] = []
        for other_ref in await work.tx.related_cases(space.id, case.id):
            other = await work.tx.case(CaseRef(other_ref))
            if other is not None and actor not in excluded(other, space):
                visible.append(team.case_line(other, space, work.now))
        await work.tx.audit(work.now, space.id, actor, "case.related.read", case.ref)
        if not visible:
            await self._say(
                work,
                fact,
                space,
                t("No other case of {space} names the same person as {ref}.", space=space.name, ref=case.ref),
            )
            return
        count = len(visible) + 1
        await self._say(
            work,
            fact,
            space,
            lines(
                tn(
                    "{count} case concerns the same person:",
                    "{count} open or closed cases concern the same person:",
                    count,
                ),
                team.case_line(case, space, work.now),
                *visible,
            ),
        )

    async def _block(self, work: Work, fact: ChatFact, space: Space, actor: str, command: Admin, prefix: str) -> None:
        await self._set_blocked(work, fact, space, actor, command, True)

    async def _unblock(self, work: Work, fact: ChatFact, space: Space, actor: str, command: Admin, prefix: str) -> None:
        await self._set_blocked(work, fact, space, actor, command, False)

    async def _set_blocked(
        self, work: Work, fact: ChatFact, space: Space, actor: str, command: Admin, blocked: bool
    ) -> None:
        who = await work.tx.reporter(space.id, Pseudonym(command.who))
        if who is None:
            await self._say(
                work,
                fact,
                space,
                t("There is no reporter {pseudonym} in {space}.", pseudonym=command.who, space=space.name),
            )
            return
        await work.tx.save_reporter(replace(who, blocked=blocked))
        await work.tx.audit(
            work.now, space.id, actor, "reporter.block" if blocked else "reporter.unblock", command.who, command.text
        )
        if blocked:
            text = t(
                "{pseudonym} is blocked: their messages no longer reach the team, except emergencies. Nobody learns who they are.",
                pseudonym=command.who,
            )
        else:
            text = t("{pseudonym} is no longer blocked.", pseudonym=command.who)
        await self._say(work, fact, space, text)

    async def _audit(self, work: Work, fact: ChatFact, space: Space, actor: str, command: Admin, prefix: str) -> None:
        zone = ZoneInfo(space.timezone)
        entries = await work.tx.audit_entries(space.id, command.reference.upper() or None, limit=30)
        rows: list[Renderable] = [t("Audit trail (latest {count}):", count=len(entries))]
        for entry in entries:
            person = space.person(entry.actor)
            who = person.name if person else entry.actor
            rows.append(
                f"• {entry.at.astimezone(zone):%m-%d %H:%M} {who}: {entry.action} {entry.subject} {entry.detail}".rstrip()
            )
        await work.tx.audit(work.now, space.id, actor, "audit.read", space.id, command.reference)
        await self._say(work, fact, space, lines(*rows))
