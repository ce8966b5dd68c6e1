"""Reporter-facing words: labels, questions and the messages built from cases.

Tone: calm, supportive, plain words, short sentences. Every string is a lazy :class:`Text`; the
service renders it in the conversation's language.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from bot.domain.ids import CaseRef
from bot.domain.model import Case, CaseState, Category, Contact, Role, Urgency
from bot.domain.space import ContactKind, Space
from bot.i18n import Lines, Renderable, Text, lines, t, tn, tp

CATEGORY = {
    Category.HARASSMENT: tp("category", "Harassment or unwanted contact"),
    Category.HOSTILE: tp("category", "Hostile or inappropriate behaviour"),
    Category.BANNED_PERSON: tp("category", "A banned person is present"),
    Category.ASSAULT: tp("category", "Physical or sexual assault"),
    Category.MEDICAL: tp("category", "Medical emergency"),
    Category.DOXING: tp("category", "Doxing, privacy or account compromise"),
    Category.OTHER: tp("category", "Something else"),
}

ROLE = {
    Role.AFFECTED: tp("role", "It happened to me"),
    Role.WITNESS: tp("role", "I saw it happen"),
    Role.ON_BEHALF: tp("role", "I am reporting for someone else"),
    Role.UNKNOWN: tp("role", "Not said"),
}

CONTACT = {
    Contact.ANONYMOUS: tp("contact", "Yes, contact me here, but keep me anonymous"),
    Contact.NAMED: tp("contact", "Yes, contact me here, and you may show my name"),
    Contact.NONE: tp("contact", "No, please do not contact me"),
}

STATE = {
    CaseState.OPEN: tp("case state", "received, waiting for the team"),
    CaseState.ACKNOWLEDGED: tp("case state", "seen by the team"),
    CaseState.CLAIMED: tp("case state", "being handled"),
    CaseState.RESOLVED: tp("case state", "closed"),
    CaseState.WITHDRAWN: tp("case state", "withdrawn"),
}

URGENCY = {
    Urgency.NORMAL: tp("urgency", "normal"),
    Urgency.HIGH: tp("urgency", "high"),
    Urgency.EMERGENCY: tp("urgency", "emergency"),
}

CONTACT_KIND = {
    ContactKind.EMERGENCY: tp("contacts", "Emergency numbers"),
    ContactKind.SECURITY: tp("contacts", "Venue security"),
    ContactKind.PSYCHOLOGICAL: tp("contacts", "Someone to talk to"),
    ContactKind.LEGAL: tp("contacts", "Legal help"),
    ContactKind.TECHNICAL: tp("contacts", "Technical help"),
}

NOW = "@now"
HERE = "@here"

# --- buttons ---------------------------------------------------------------------------------------

BACK = tp("button", "⬅ Back")
SKIP = tp("button", "Skip")
CANCEL = tp("button", "✖ Cancel")
EMERGENCY = tp("button", "🆘 Emergency")
DONE = tp("button", "✔ Done")
YES = tp("button", "Yes")
NO = tp("button", "No")
SEND = tp("button", "✔ Send report")
CONTINUE = tp("button", "Continue my draft")
START_OVER = tp("button", "Start over")
MENU_REPORT = tp("button", "📝 Report something")
MENU_STATUS = tp("button", "📋 My reports")
MENU_HELP = tp("button", "ℹ Help and support")
MENU_LANGUAGE = tp("button", "🌐 Language")
ADD_DETAILS = tp("button", "Answer a few questions")
NO_THANKS = tp("button", "No, that is all")
ERASE = tp("button", "Yes, erase")
KEEP = tp("button", "No, keep everything")
NOW_BUTTON = tp("when", "It is happening now")
HERE_BUTTON = tp("where", "Here, at the event")

# --- questions -------------------------------------------------------------------------------------

Q_SPACE = t("Which event or community is this about?")
Q_DANGER = t("Is anyone in danger right now?")
Q_ROLE = t("What best describes you?")
Q_CATEGORY = t("What kind of incident is it?")
Q_WHEN_WHERE = t("When and where did it happen? Write it in your own words, or choose below.")
Q_INVOLVED = t(
    "Who was involved? You can skip this.\n"
    "We use it only to keep the report away from anyone involved, and to notice repeated reports "
    "about the same person."
)
Q_WHAT = t(
    "What happened? Take your time. You can send several messages, photos or files.\nPress Done when you have finished."
)
Q_WHAT_MORE = t("Got it. Send more, or press Done.")
Q_WHOM = t("Who should handle your report?")
Q_WHOM_PICK = t("Who would you like to talk to? These people are on duty now:")
Q_WHOM_PICK_NOBODY_ON_DUTY = t("Nobody is on duty right now. Who from the team would you like to talk to?")
Q_WHOM_EXCLUDE = t("Who should not see your report?")
Q_CONTACT = t("May the team contact you here?")
Q_CONFIRM = t("Please check your report. Is this right?")
Q_WHICH_CASE = t("Which report is this about?")
Q_LANGUAGE = t("Which language would you like?")
Q_LOCATION = t("Where are you? Share your location, or describe the place in a few words.")

WHOM_ANYONE = tp("whom", "Anyone on duty")
WHOM_SPECIFIC = tp("whom", "A specific person")
WHOM_EXCEPT = tp("whom", "Anyone except a specific person")

# --- answers to bad input --------------------------------------------------------------------------

PICK_AN_OPTION = t("Please choose one of the options, or type its number.")
OLD_BUTTON = t("That button belongs to an earlier question. Here is the current one.")
FORGED_BUTTON = t("That button is not valid here. Nothing was changed.")
EMPTY_ANSWER = t("I did not get any text. Please write a few words.")
NEED_DETAILS = t("Please tell us at least a little about what happened before pressing Done.")
NOTHING_TO_CANCEL = t("There is nothing to cancel.")
UNKNOWN_LANGUAGE = t("I do not have that language yet. Please choose one of these.")
CANNOT_READ = t("Sorry, I could not read your last message. Could you send it again?")
STICKER = t("I can only read text, photos, files and locations. Please write your message as text.")


def unknown_command(name: str, prefix: str) -> Text:
    return t(
        "I do not know the command {command}. Send {help} to see what I can do.",
        command=f"{prefix}{name}",
        help=f"{prefix}help",
    )


def too_long(limit: int) -> Text:
    return t("That message is too long. Please keep it under {limit} characters, or send it in parts.", limit=limit)


# --- messages --------------------------------------------------------------------------------------


def welcome(space: Space | None) -> Lines:
    intro = (
        t("Hello. This is {space}'s private reporting line.", space=space.name)
        if space
        else t("Hello. This is a private reporting line.")
    )
    return lines(
        intro,
        t("You can tell us about harassment, unsafe behaviour or any incident. The response team will help."),
        t("Only the people who handle your report see what you write. You can stay anonymous."),
        t("If someone is in danger, press Emergency."),
    )


def when_where_label(value: str) -> Renderable:
    if value == NOW:
        return NOW_BUTTON
    if value == HERE:
        return HERE_BUTTON
    return value


def receipt_first_line() -> Text:
    return t("Thank you. Your report is received and stored safely.")


def receipt(case: Case, space: Space, expected: timedelta | None) -> Lines:
    """The message a reporter gets once their report is safely stored."""
    wait: Text | None = None
    if expected is not None:
        minutes = max(1, int(expected.total_seconds() // 60))
        wait = tn(
            "Someone from the team should answer within {count} minute.",
            "Someone from the team should answer within {count} minutes.",
            minutes,
        )
    next_steps = (
        t("We will message you here when someone takes your report. You can add more at any time by writing here.")
        if case.contact != Contact.NONE
        else t("You asked us not to contact you. You can still add more at any time by writing here.")
    )
    return lines(
        receipt_first_line(),
        t("Your reference is {ref}. Keep it if you want to ask about this report later.", ref=case.ref),
        wait,
        next_steps,
        contacts_block(space, (ContactKind.EMERGENCY, ContactKind.SECURITY)),
    )


def emergency_received(case: Case, space: Space) -> Lines:
    return lines(
        t("🆘 We are alerting the response team now. Reference: {ref}.", ref=case.ref),
        contacts_block(space, (ContactKind.EMERGENCY,)) or t("If you can, call the local emergency number."),
        Q_LOCATION,
    )


DISCREET_OK = t("OK, thanks. Noted.")
LOCATION_THANKS = t("Thank you. The team has your location. Stay somewhere safe. Write here if anything changes.")


def someone_acknowledged(ref: CaseRef) -> Text:
    return t("Someone from the team has seen your emergency report {ref} and is responding.", ref=ref)


def added_to_case(ref: CaseRef) -> Text:
    return t("Added to your report {ref}. The team will see it.", ref=ref)


def contacts_block(space: Space, kinds: Sequence[ContactKind] | None = None) -> Lines | None:
    shown = kinds or tuple(ContactKind)
    parts: list[Renderable] = []
    for kind in shown:
        entries = space.contacts.get(kind, ())
        if entries:
            parts.append(lines(t("{kind}:", kind=CONTACT_KIND[kind]), *(f"• {entry}" for entry in entries)))
    return lines(*parts) if parts else None


def help_text(space: Space | None, prefix: str) -> Lines:
    commands = lines(
        t("{command} — report an incident step by step", command=f"{prefix}report"),
        t("{command} — report quickly in one message", command=f"{prefix}report …"),
        t("{command} — someone is in danger", command=f"{prefix}emergency"),
        t("{command} — see your reports", command=f"{prefix}status"),
        t("{command} — change the language", command=f"{prefix}language"),
        t("{command} — stop what you are doing", command=f"{prefix}cancel"),
        t("{command} — erase your personal data", command=f"{prefix}forget"),
    )
    privacy = lines(
        t("How we handle your data:"),
        t(
            "Your report is encrypted when stored. The team room only sees a reference and the kind of incident, "
            "never your name or what you wrote. Only the people who take your report read it."
        ),
        t(
            "You can stay anonymous. Use {command} at any time to erase your personal data.",
            command=f"{prefix}forget",
        ),
    )
    support = contacts_block(space) if space else None
    return lines(
        t("I pass reports about incidents to the response team, privately and in your language."),
        commands,
        privacy,
        lines(t("Support and safety contacts:"), support) if support else None,
        sep="\n\n",
    )


def summary(
    category: Category | None,
    role: Role | None,
    when_where: str,
    involved: str,
    details: Sequence[str],
    attachments: int,
    whom: Renderable,
    contact: Contact | None,
) -> Lines:
    return lines(
        t("Your report:"),
        t("• What kind: {value}", value=CATEGORY[category] if category else "—"),
        t("• You: {value}", value=ROLE[role] if role else "—"),
        t("• When and where: {value}", value=when_where_label(when_where) if when_where else "—"),
        t("• Who was involved: {value}", value=involved or "—"),
        t("• What happened: {value}", value=" / ".join(details) if details else "—"),
        tn("• {count} attachment", "• {count} attachments", attachments) if attachments else None,
        t("• Handled by: {value}", value=whom),
        t("• Contact: {value}", value=CONTACT[contact] if contact else "—"),
    )


def status_line(case: Case) -> Text:
    if case.role == Role.WITNESS:
        state = STATE[CaseState.RESOLVED] if not case.is_open else tp("case state", "received")
    else:
        state = STATE[case.state]
    return t("{ref} · {category} · {state}", ref=case.ref, category=CATEGORY[case.category], state=state)


def status(cases: Sequence[Case]) -> Renderable:
    if not cases:
        return t("You have no reports yet.")
    return lines(t("Your reports:"), *(status_line(case) for case in cases))


def draft_kept(hours: int) -> Text:
    return tn(
        "Stopped. I keep your unfinished report for {count} hour. Send report to continue.",
        "Stopped. I keep your unfinished report for {count} hours. Send report to continue.",
        hours,
    )


SLOW_DOWN = t(
    "You are sending messages very quickly. Please wait a minute; I will read your messages again after that."
)
BLOCKED = t("Your messages are not passed on to the team here. If someone is in danger, write emergency.")
INVALID_CODE = t("This link or code is not valid any more. Please ask the person who gave it to you for a new one.")
DRAFT_REMINDER = t("You have an unfinished report. Send report to continue it, or cancel to leave it.")
DRAFT_EXPIRED = t("Your unfinished report was deleted because it was not sent in time.")
HAVE_DRAFT = t("You have an unfinished report. Would you like to continue it?")
NO_OPEN_CASE = t("You have no open report. What would you like to do?")
CHOOSE = t("What would you like to do?")
FORGET_CONFIRM = t(
    "This erases your unfinished reports and the link between you and your reports.\n"
    "Open reports stay with the team, without any way to reach you. Closed reports are erased.\n"
    "Do you want to continue?"
)
FORGET_KEPT = t("OK, nothing was erased.")
QUICK_FOLLOWUP = t("A few more answers help the team. They are all optional.")
QUICK_DONE = t("Thank you. Your answers were added to your report.")


def team_reply(text: str) -> Text:
    return t("Response team: {text}", text=text)


def team_reply_named(name: str, text: str) -> Text:
    return t("Response team ({name}): {text}", name=name, text=text)


def case_closed(ref: CaseRef) -> Text:
    return t("Your report {ref} is now closed. Thank you for telling us.", ref=ref)


def case_taken(ref: CaseRef) -> Text:
    return t("Someone from the team has taken your report {ref}. They may write to you here.", ref=ref)


def forgotten(open_refs: Sequence[CaseRef], closed: int) -> Lines:
    return lines(
        t("Done. Your unfinished reports and your link to your reports are erased."),
        t(
            "These open reports stay with the team without any link to you: {refs}. We cannot send you updates "
            "about them any more.",
            refs=", ".join(open_refs),
        )
        if open_refs
        else None,
        tn(
            "{count} closed report was erased. Only anonymous counts remain for statistics.",
            "{count} closed reports were erased. Only anonymous counts remain for statistics.",
            closed,
        )
        if closed
        else None,
    )


def intake_paused(message: str) -> Lines:
    return lines(t("The response team is not taking new reports here right now."), message or None)


def signoff_invitation(space: str, command: str) -> Text:
    return t(
        "A member of the {space} response team wrote down what you told them. Please check it: send {command} here.",
        space=space,
        command=command,
    )


def verbal_record(category: Category, when_where: str, involved: str, details: Sequence[str]) -> Lines:
    return lines(
        t("• What kind: {value}", value=CATEGORY[category]),
        t("• When and where: {value}", value=when_where_label(when_where) if when_where else "—"),
        t("• Who was involved: {value}", value=involved or "—"),
        t("• What happened: {value}", value=" / ".join(details) if details else "—"),
    )


def signoff_record(ref: CaseRef, record: Renderable) -> Lines:
    return lines(
        t("This is the written record of what you told the team ({ref}):", ref=ref),
        record,
        IS_IT_RIGHT,
        sep="\n\n",
    )


IS_IT_RIGHT = t("Is it right?")


SIGNOFF_YES = tp("button", "✔ Yes, it is right")
SIGNOFF_FIX = tp("button", "✏ Something is wrong")
SIGNED_OFF = t("Thank you. The record is confirmed. You can write here at any time to add something.")
CORRECTION = t("Please write what should be corrected. It will be added to the record.")


#: Telegram's "/" menu in private chats: command names and what they do.
COMMAND_MENU: tuple[tuple[str, Text], ...] = (
    ("start", tp("command menu", "Start: what I can do for you")),
    ("report", tp("command menu", "Report an incident, step by step")),
    ("emergency", tp("command menu", "Someone is in danger: alert the team now")),
    ("status", tp("command menu", "Your reports and their status")),
    ("help", tp("command menu", "Privacy, safety and support contacts")),
    ("language", tp("command menu", "Change the language")),
    ("cancel", tp("command menu", "Stop what you are doing")),
    ("forget", tp("command menu", "Erase your personal data")),
)
