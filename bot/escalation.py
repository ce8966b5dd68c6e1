"""The escalation engine: cards, pages, and the timers that repeat them until someone acknowledges.

Timers live in the database. A firing step pages its targets and chains the next step at
``created_at + after`` (or, after the last step, a repeat ``repeat_every`` later). A step that became
due while the process was down fires once when it starts; repeats that piled up are coalesced into one.
Acknowledging cancels every remaining step of the case.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from bot.directory import Directory
from bot.domain.ids import ChatAddress, Identity, platform_of
from bot.domain.model import Case, CaseEvent, CaseState, Lane, Person, Urgency
from bot.domain.routing import excluded, route
from bot.domain.space import Space, Target
from bot.i18n import Renderable
from bot.messages import Button, EditCard, PostCard, Send
from bot.ports import Timer
from bot.speaker import Speaker
from bot.work import Work
from flows import cards, texts

ESCALATE = "escalate"
UNCLAIMED = "unclaimed"
QUIET = "quiet"
HANDOVER = "handover"
HANDOVER_HORIZON = timedelta(days=8)


class Escalation:
    def __init__(self, speaker: Speaker, directory: Directory) -> None:
        self.speaker = speaker
        self.directory = directory

    @staticmethod
    def lane(case: Case) -> Lane:
        return Lane.EMERGENCY if case.urgency == Urgency.EMERGENCY else Lane.PAGE

    # --- cards -------------------------------------------------------------------------------------

    def _card(
        self, work: Work, case: Case, space: Space, paged: Sequence[str]
    ) -> tuple[str, tuple[tuple[Button, ...], ...]]:
        restricted = bool(excluded(case, space))
        language = space.team_language
        text = self.speaker.render(cards.card_text(case, space, paged, work.now, restricted), language)
        return text, self.speaker.buttons(cards.card_buttons(case, restricted), language)

    def rooms(self, space: Space) -> list[ChatAddress]:
        return [room for room in space.team_rooms if platform_of(room) in self.speaker.platforms]

    async def post_cards(self, work: Work, case: Case, space: Space, paged: Sequence[str] = ()) -> None:
        text, buttons = self._card(work, case, space, paged)
        title = (
            ""
            if excluded(case, space)
            else f"{case.ref} · {self.speaker.render(texts.CATEGORY[case.category], space.team_language)}"
        )
        for room in self.rooms(space):
            await work.send(PostCard(room, case.ref, text, buttons, title), self.lane(case))

    async def update_cards(self, work: Work, case: Case, space: Space) -> None:
        text, buttons = self._card(work, case, space, await self.paged_people(work, case))
        for room in self.rooms(space):
            await work.send(EditCard(room, case.ref, text, buttons), Lane.PAGE)

    async def paged_people(self, work: Work, case: Case) -> list[str]:
        if case.id is None:
            return []
        seen: dict[str, None] = {}
        for event in await work.tx.events(case.id):
            if event.kind == "paged":
                for key in event.detail.get("people", ()):
                    seen.setdefault(key, None)
        return list(seen)

    # --- the policy --------------------------------------------------------------------------------

    async def start(self, work: Work, case: Case, space: Space) -> None:
        """A new case: post its card, page the immediate steps now (in this transaction), schedule the rest."""
        policy = space.policy(case.urgency)
        paged: list[str] = []
        if policy.steps and policy.steps[0].after <= timedelta(0):
            paged = [p.key for p in route(space, case, policy.steps[0].notify, work.now, first=True).people]
        await self.post_cards(work, case, space, paged)
        await self._fire_from(work, case, space, 0)

    async def _fire_from(self, work: Work, case: Case, space: Space, index: int) -> None:
        """Fire step ``index`` and every following step already due; schedule the first one that is not.

        Steps are never skipped: after an outage every overdue step fires once, in order.
        """
        policy = space.policy(case.urgency)
        while index < len(policy.steps):
            due = case.created_at + policy.steps[index].after
            if due > work.now:
                await work.timer(ESCALATE, due, case=case.id, data={"step": index, "repeat": 0})
                return
            await self.page(work, case, space, index, 0)
            index += 1
        if policy.steps:
            await self._schedule_repeat(work, case, space, case.created_at + policy.steps[-1].after, 1)

    async def _schedule_repeat(self, work: Work, case: Case, space: Space, previous: datetime, repeat: int) -> None:
        """The next repeat of the last step; repeats that piled up during an outage are coalesced."""
        policy = space.policy(case.urgency)
        if policy.repeat_every is None or not policy.steps:
            return
        due = previous + policy.repeat_every
        if due <= work.now:
            due = work.now + policy.repeat_every
        await work.timer(ESCALATE, due, case=case.id, data={"step": len(policy.steps) - 1, "repeat": repeat})

    async def fire(self, work: Work, timer: Timer) -> None:
        if timer.case is None:
            return
        case = await work.tx.case_by_id(timer.case)
        if case is None or case.state != CaseState.OPEN:
            return
        space = self.directory.get(case.space)
        if space is None:
            return
        policy = space.policy(case.urgency)
        if not policy.steps:
            return
        index = min(int(timer.data.get("step", 0)), len(policy.steps) - 1)
        repeat = int(timer.data.get("repeat", 0))
        await self.page(work, case, space, index, repeat)
        if repeat:
            await self._schedule_repeat(work, case, space, timer.due, repeat + 1)
        else:
            await self._fire_from(work, case, space, index + 1)

    async def page(self, work: Work, case: Case, space: Space, index: int, repeat: int) -> list[Person]:
        policy = space.policy(case.urgency)
        if not policy.steps:
            return []
        step = policy.steps[min(index, len(policy.steps) - 1)]
        first = index == 0 and repeat == 0
        found = route(space, case, step.notify, work.now, first=first)
        lane = self.lane(case)
        detail = {"step": index, "repeat": repeat, "target": step.notify.value, "rota_hole": found.rota_hole}
        await self._page_people(work, case, space, found.people, repeat or index, detail)
        if found.people and not excluded(case, space):
            mentioned = ", ".join(p.name for p in found.people)
            text = self.speaker.render(cards.room_page(case, mentioned), space.team_language)
            mentions = tuple(i for p in found.people for i in p.identities)
            for room in self.rooms(space):
                await work.send(Send(room, text, case=case.ref, in_thread=True, mentions=mentions), lane)
        if found.rota_hole:
            await self.tell_coordinators(work, space, cards.rota_hole(case), lane)
        return list(found.people)

    async def _page_people(
        self, work: Work, case: Case, space: Space, people: Sequence[Person], repeat: int, detail: Mapping[str, object]
    ) -> None:
        """Page each person privately and record the page in the case's history."""
        assert case.id is not None
        for person in people:
            page = cards.page_text(case, space, repeat)
            await self.speaker.tell(
                work, person, space, page, self.lane(case), case=case.ref, rows=cards.page_buttons(case)
            )
        event = CaseEvent(work.now, "system", "paged", {**detail, "people": [p.key for p in people]})
        await work.tx.add_event(case.id, event)

    async def page_instead(self, work: Work, case: Case, space: Space, unreachable: Identity) -> None:
        """A paged person cannot be reached: page the next people in the policy now, not at the next step."""
        assert case.id is not None
        if case.state != CaseState.OPEN:
            return
        policy = space.policy(case.urgency)
        if not policy.steps:
            return
        step = 0
        for event in await work.tx.events(case.id):
            if event.kind == "paged" and unreachable in event.detail.get("people", ()):
                step = int(event.detail.get("step", 0))
        index, target, people = self._next_reachable(work, case, space, step, unreachable)
        detail = {"step": index, "repeat": 0, "target": target.value, "instead_of": unreachable}
        await self._page_people(work, case, space, people, 1, detail)

    @staticmethod
    def _next_reachable(
        work: Work, case: Case, space: Space, step: int, unreachable: Identity
    ) -> tuple[int, Target, list[Person]]:
        """The first later step of the policy (then the whole team) that names someone else."""
        steps = space.policy(case.urgency).steps
        candidates = [(index, steps[index].notify) for index in range(step + 1, len(steps))]
        for index, target in [*candidates, (len(steps), Target.TEAM)]:
            people = [p for p in route(space, case, target, work.now, first=False).people if p.key != unreachable]
            if people:
                return index, target, people
        return len(steps), Target.TEAM, []

    # --- shift handovers -------------------------------------------------------------------------

    async def schedule_handover(self, work: Work, space: Space, after: datetime) -> None:
        """A timer at the next moment someone comes on call in this space."""
        if space.rota is None:
            return
        upcoming = space.rota.shift_starts(after, after + HANDOVER_HORIZON)
        if upcoming:
            await work.timer(HANDOVER, upcoming[0][0], data={"space": space.id})

    async def handover(self, work: Work, timer: Timer) -> None:
        """At a shift start, the incoming responders get the open cases they may see (pseudonymised)."""
        space = self.directory.get(str(timer.data.get("space", "")))
        if space is None or space.rota is None:
            return
        incoming = space.rota.on_call(timer.due) - space.rota.on_call(timer.due - timedelta(microseconds=1))
        open_cases = await work.tx.cases(space=space.id, open_only=True)
        for person in space.responders:
            if person.key not in incoming:
                continue
            visible = []
            for case in open_cases:
                full = await work.tx.case(case.ref)
                if full is not None and person.key not in excluded(full, space):
                    visible.append(case)
            await self.speaker.tell(work, person, space, cards.handover(space, visible, work.now))
        await self.schedule_handover(work, space, timer.due)

    async def tell_coordinators(
        self,
        work: Work,
        space: Space,
        text: Renderable,
        lane: Lane = Lane.PAGE,
        exclude: Sequence[Identity] = (),
    ) -> None:
        for person in space.coordinator_people():
            if person.key not in exclude:
                await self.speaker.tell(work, person, space, text, lane)

    # --- acknowledgement ---------------------------------------------------------------------------

    async def acknowledge(self, work: Work, case: Case, space: Space, who: Identity) -> Case:
        """Stop the escalation; the case waits for someone to take it."""
        assert case.id is not None
        updated = replace(
            case.with_state(CaseState.ACKNOWLEDGED, work.now), acknowledged_at=work.now, acknowledged_by=who
        )
        await work.tx.save_case(updated)
        await work.tx.cancel_timers(case.id, [ESCALATE])
        await work.timer(UNCLAIMED, work.now + space.handling.unclaimed_after, case=case.id)
        await work.tx.add_event(case.id, CaseEvent(work.now, who, "acknowledged"))
        return updated

    async def stop(self, work: Work, case: Case) -> None:
        """Cancel every timer of a case (resolved, withdrawn, erased)."""
        assert case.id is not None
        await work.tx.cancel_timers(case.id)
