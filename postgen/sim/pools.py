"""Sentence and heading templates for the simulated writer (data only).

Placeholders: {topic} (mid-sentence), {Topic} (title case), {Topic_s} (sentence start),
{audience}, {Audience}, {kw}, {kw2}, {Kw}, {n}, {pct}, {weeks}, {weeks2}, {angle}.
"""

from __future__ import annotations

__all__ = ["ARCHETYPES", "CONCLUSION", "ELABORATE", "HOOKS", "INTRO", "ROLES", "TITLES", "Role"]

Role = tuple[tuple[str, ...], tuple[str, ...]]  # (headings, sentences in a sensible order)

HOOKS: tuple[str, ...] = (
    "Most {audience} already know that {topic} matters. Far fewer know where to start, "
    "and that gap is exactly where the opportunity lies.",
    "If {topic} feels like one more thing on an already crowded to-do list, you are not alone.",
    "Here is a question worth asking before your next planning meeting: what would change "
    "if you took {topic} seriously?",
    "{Topic_s} is no longer a nice-to-have for {audience}; it is quickly becoming the "
    "difference between being noticed and being ignored.",
    "Every week, {audience} lose time and budget to guesswork about {topic}.",
    "The teams winning at {topic} are not the ones with the biggest budgets. "
    "They are the ones with the clearest plan.",
    "What if the fastest way to grow was not another campaign, but a better approach to {topic}?",
)

INTRO: tuple[str, ...] = (
    "This article is written for {audience} who want results, not theory.",
    "It is written for {audience} who are short on time but serious about {kw}.",
    "We wrote it for {audience} who want a plan they can start on Monday.",
)

ELABORATE: tuple[str, ...] = (
    "It is worth pausing here, because this is where many plans quietly stall.",
    "Write the decision down, share it with the team and revisit it after a month.",
    "Small, visible wins build the confidence a team needs to keep going.",
    "If something feels too complicated to explain in a sentence, simplify it before you scale it.",
    "This is also where investing in {kw} starts to pay for itself.",
    "Keep a short log of what you tried and what happened; it becomes your best playbook.",
    "Ask yourself whether {audience} would notice if you stopped doing it tomorrow.",
    "The point is not perfection but a steady rhythm you can keep up for months.",
    "Invite one sceptic to review the approach; their questions will make it stronger.",
    "Where possible, automate the boring parts so that people can focus on judgement.",
    "Agree in advance what you will stop doing if it does not move the numbers.",
    "A one-page summary of the approach keeps everyone pointed in the same direction.",
)

ROLES: dict[str, Role] = {
    "why": (
        ("Why {Topic} Matters Now", "The Case for {Topic}", "What Is at Stake for {Audience}"),
        (
            "Attention is scarce, and {topic} is one of the few levers that compounds over time.",
            "For {audience}, the cost of waiting rarely shows up on a dashboard, but it shows up "
            "in slower growth and missed conversations.",
            "Buyers research on their own long before they talk to anyone, so your approach to "
            "{kw} shapes their opinion before you get a chance to.",
            "The good news is that getting {topic} right does not require a bigger budget, "
            "only a clearer focus.",
            "Competitors who invest in {kw2} today will be much harder to catch in a year.",
            "When it is done well, it earns trust that paid campaigns alone cannot buy.",
            "Ignoring it does not make the problem disappear; it simply hands the conversation "
            "to someone else.",
        ),
    ),
    "foundation": (
        ("Start With a Clear Goal", "The Basics of {Topic}", "Laying the Groundwork"),
        (
            "At its core, {topic} is about solving a real problem for a specific group of people.",
            "Before you change anything, write down the one outcome that would make the effort "
            "worthwhile.",
            "A useful goal names a metric, a time frame and an owner — for example, improving "
            "{kw} within {weeks} weeks.",
            "Talk to five customers first; their words will tell you more than any trend report.",
            "Keep the scope small enough that you can ship something in the first week.",
            "Think of {kw} and {kw2} as two sides of the same plan rather than separate projects.",
            "Clarity here saves hours later, when every new idea has to earn its place.",
        ),
    ),
    "how": (
        ("Put {Kw} to Work", "A Simple Process You Can Repeat", "Turning the Plan Into Action"),
        (
            "Begin with the smallest version that could work, then improve it in short cycles.",
            "Pick one channel where {audience} already spend time and show up there consistently.",
            "Turn each insight into a concrete asset: a checklist, a short video or a template "
            "people can reuse.",
            "Block a recurring slot in the calendar so that {topic} does not lose out to urgent "
            "but unimportant work.",
            "Pair {kw} with a clear next step, so every piece of work moves a reader closer to "
            "a decision.",
            "Share drafts early; quick feedback beats a perfect plan that never ships.",
            "Reuse what works: one strong idea can become a post, an email and a talk.",
        ),
    ),
    "mistakes": (
        ("Common Mistakes to Avoid", "Where Most Teams Go Wrong", "Pitfalls to Watch For"),
        (
            "The most common mistake is trying to do everything at once and finishing nothing.",
            "Another is copying a large competitor without their budget or their audience.",
            "Many teams measure activity instead of outcomes, which makes busy weeks look like "
            "progress.",
            "Skipping research leads to messages about features rather than the problems "
            "{audience} actually have.",
            "Treating {kw} as a one-off campaign rather than a habit wastes your momentum.",
            "Finally, do not let the search for the perfect tool delay the work itself.",
        ),
    ),
    "measure": (
        ("How to Measure Progress", "Metrics That Actually Matter", "Knowing What Works"),
        (
            "Choose two or three numbers that connect directly to revenue or retention.",
            "Teams that review their {kw} results every month report up to {pct}% less wasted "
            "effort.",
            "Track leading indicators such as replies, saves and return visits, not just views.",
            "Set a baseline before you start, otherwise every improvement is a guess.",
            "A simple spreadsheet updated weekly beats an elaborate dashboard nobody opens.",
            "Expect the first {weeks} weeks to be noisy; look for the trend, not the single point.",
        ),
    ),
    "example": (
        ("A Real-World Example", "What This Looks Like in Practice", "A Quick Case Study"),
        (
            "Consider a small team that committed to {topic} for one quarter.",
            "They interviewed {n} customers and rewrote their messaging around the problems "
            "they heard.",
            "Within {weeks} weeks, inbound questions rose by roughly {pct}%, without any increase "
            "in ad spend.",
            "The biggest change was not a tactic but a habit: they reviewed results every Friday.",
            "Their experience shows that consistency beats intensity when it comes to {kw}.",
        ),
    ),
    "myth": (
        ("Myth: {Topic} Is Only for Big Brands", "Myth: More Is Always Better"),
        (
            "The popular advice says you need a large team and a larger budget to succeed with "
            "{topic}.",
            "In reality, smaller teams often win because they move faster and speak more "
            "personally.",
            "Publishing more often does not help if each piece says less; quality compounds, "
            "volume does not.",
            "Most lasting results from {kw} take {weeks} to {weeks2} weeks to show, and that is "
            "normal.",
            "Chasing every new trend spreads attention thin and confuses the people you want "
            "to reach.",
        ),
    ),
    "truth": (
        ("What Actually Works", "A Better Way to Think About {Topic}"),
        (
            "What works is a narrow focus on one audience and one problem at a time.",
            "Start from the questions {audience} ask most often and answer them better than "
            "anyone else.",
            "Make {kw} part of a weekly routine rather than a quarterly push.",
            "This approach is less exciting than the latest hack, but it is far more reliable.",
            "Over time, a consistent point of view becomes your strongest advantage.",
        ),
    ),
    "data": (
        ("What the Numbers Say", "The Data Behind {Topic}", "Where {Kw} Moves the Needle"),
        (
            "Industry surveys suggest that around {pct}% of {audience} plan to invest more in "
            "{topic} this year.",
            "Organisations with a documented strategy are roughly {n} times more likely to "
            "report success than those without one.",
            "The gap between leaders and laggards is widening, and most of it comes down to "
            "consistency.",
            "Focusing on {kw} tends to produce the largest gains for the smallest effort.",
            "Numbers like these are averages, so test them against your own baseline.",
        ),
    ),
    "story": (
        ("Where It Started", "The Problem Nobody Talked About"),
        (
            "A year ago, the team in this story had a problem many {audience} share: plenty of "
            "activity, very little to show for it.",
            "Every campaign started from scratch, and nobody could say which efforts mattered.",
            "{Topic_s} was on the list of priorities, but always below the urgent work of the "
            "week.",
            "The turning point came when a customer asked a simple question nobody could answer.",
        ),
    ),
    "turn": (
        ("The Turning Point", "What Changed", "Small Changes, Big Difference"),
        (
            "They decided to focus on a single goal and to treat {kw} as a weekly habit.",
            "Each Friday, the team reviewed what had worked and dropped what had not.",
            "Within {weeks} weeks, the results were visible: {pct}% more replies and better "
            "conversations.",
            "The biggest shift was cultural; people stopped guessing and started testing.",
            "Nothing about the change was expensive, which is exactly why it lasted.",
        ),
    ),
    "lessons": (
        ("Lessons You Can Borrow", "What You Can Take Away"),
        (
            "The first lesson is to start smaller than feels comfortable.",
            "The second is to make progress visible, so momentum does not depend on one person.",
            "Third, let real questions from {audience} decide what you work on next.",
            "You can apply all three to {topic} starting this week.",
        ),
    ),
}

# angle words → section roles, title templates
ARCHETYPES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "howto": (
        ("how-to", "how to", "guide", "practical", "step", "playbook"),
        ("why", "foundation", "how", "measure", "mistakes"),
    ),
    "contrarian": (
        ("contrarian", "myth", "counter", "unpopular", "debunk", "opinion", "provocative"),
        ("myth", "truth", "how", "mistakes"),
    ),
    "data": (
        ("data", "number", "research", "evidence", "metric", "roi", "stat", "analytic"),
        ("data", "measure", "example", "how"),
    ),
    "story": (
        ("story", "case", "narrative", "journey", "customer", "anecdote"),
        ("story", "turn", "lessons", "how"),
    ),
    "checklist": (
        ("checklist", "list", "tips", "quick", "ways", "listicle"),
        ("foundation", "how", "measure", "mistakes", "example"),
    ),
    "beginner": (
        ("beginner", "101", "intro", "basics", "primer", "explainer"),
        ("foundation", "why", "how", "mistakes"),
    ),
}

TITLES: dict[str, tuple[str, ...]] = {
    "howto": (
        "How to Get Started With {Topic}: A Practical Guide",
        "{Topic}: A Step-by-Step Guide for {Audience}",
        "How {Audience} Can Make {Topic} Work",
    ),
    "contrarian": (
        "Everything You've Heard About {Topic} Is Half Wrong",
        "{Topic}: What the Experts Get Wrong",
        "Stop Overthinking {Topic}",
    ),
    "data": (
        "{Topic} by the Numbers: What {Audience} Need to Know",
        "The Data-Driven Case for {Topic}",
    ),
    "story": (
        "How One Team Turned {Topic} Into a Growth Engine",
        "{Topic}: A Story of Small Changes and Big Results",
    ),
    "checklist": (
        "{sections} Ways to Get More From {Topic}",
        "The {Topic} Checklist for {Audience}",
    ),
    "beginner": (
        "{Topic} 101: A Beginner's Guide",
        "A Beginner's Guide to {Topic}",
    ),
}

CONCLUSION: Role = (
    ("Conclusion", "The Bottom Line", "Your Next Step", "Where to Go From Here", "Final Thoughts"),
    (
        "{Topic_s} rewards the teams who start small, stay consistent and learn as they go.",
        "You do not need a perfect plan — just a clear goal and the discipline to review results.",
        "Pick one idea from this article and put it into practice this week.",
        "The sooner you begin, the sooner the compounding starts.",
    ),
)
