"""Front matter a marketer can publish: slugs, titles, keywords."""

from __future__ import annotations

import pytest

from postgen.stages.publish import (
    MAX_SLUG,
    MAX_TITLE,
    post_keywords,
    seo_title,
    slug_for,
    topic_keywords,
)

LONG = (
    "How Continuous Delivery for Small Teams can make continuous delivery boring, "
    "predictable and safe again for everyone"
)


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Zero-downtime database migrations", "zero-downtime-database-migrations"),
        ("Миграции баз данных без простоя", "migratsii-baz-dannykh-bez-prostoia"),
        ("零停机数据库迁移", "ling-ting-ji-shu-ju-ku-qian-yi"),
        ("Ship it: 10 lessons (and 1 regret)!", "ship-it-10-lessons-and-1-regret"),
        ("!!!", "post"),
    ],
)
def test_slugs_are_ascii_words(title: str, slug: str) -> None:
    assert slug_for(title) == slug


def test_a_long_title_is_slugged_at_a_word_boundary() -> None:
    slug = slug_for(LONG)
    assert len(slug) <= MAX_SLUG
    assert slug == "how-continuous-delivery-for-small-teams-can-make-continuous"
    assert LONG.lower().replace(" ", "-").startswith(slug)  # whole words only


def test_a_long_cyrillic_title_is_cut_at_a_word_boundary() -> None:
    title = "Миграции баз данных без простоя: практическое руководство для небольших команд"
    slug = slug_for(title)
    assert len(slug) <= MAX_SLUG and not slug.endswith("-")
    assert slug.startswith("migratsii-baz-dannykh")
    assert slug.split("-")[-1] in slug_for(title.replace(":", "")).split("-")


def test_titles_that_fit_need_no_seo_title() -> None:
    assert seo_title("Zero-downtime database migrations") is None


def test_a_long_title_gets_an_seo_title_cut_at_a_word() -> None:
    short = seo_title(LONG)
    assert short is not None and len(short) <= MAX_TITLE
    assert LONG.startswith(short) and LONG[len(short)] == " "


def test_keywords_come_from_the_topic() -> None:
    assert topic_keywords("Continuous delivery for small teams") == [
        "continuous delivery",
        "small teams",
    ]
    assert topic_keywords("Zero-downtime database migrations") == [
        "zero-downtime database migrations"
    ]
    assert topic_keywords("Миграции баз данных без простоя") == ["миграции баз данных", "простоя"]
    assert topic_keywords("零停机数据库迁移") == ["零停机数据库迁移"]
    assert topic_keywords("Kubernetes: a practical guide") == ["practical guide", "kubernetes"]


def test_model_keywords_are_kept_only_as_phrases_the_post_uses() -> None:
    body = "Small teams ship with feature flags. Continuous delivery keeps releases boring."
    keywords = post_keywords(
        ["continuous delivery"],
        ["growing", "software", "down", "feature flags", "release trains", "the", "Small teams"],
        body,
    )
    assert keywords == ["continuous delivery", "feature flags", "Small teams"]


def test_an_seo_title_does_not_end_on_a_stop_word() -> None:
    title = "Zero-downtime Database Migrations, a Story of Many Small Changes and of the Results"
    assert len(title[: title.index(" of the")]) <= MAX_TITLE  # the cut would end on "of the"
    assert seo_title(title) == "Zero-downtime Database Migrations, a Story of Many Small Changes"
