//! Markdown to safe HTML. The body is stored as written; `bodyHtml` is rendered from it and
//! sanitised with ammonia's allow-list, so no script, event handler or `javascript:` URL
//! survives, whatever the author wrote (Markdown may contain raw HTML).

use std::sync::LazyLock;

use pulldown_cmark::{html, Options, Parser};

/// The sanitiser, built once: building one (its allow-lists of tags, attributes and schemes)
/// cost as much as cleaning a short body, and every created post, favorite answer and cache
/// fill renders one.
static SANITIZER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::default();
    builder
        .url_schemes(["http", "https", "mailto"].into())
        .link_rel(Some("noopener noreferrer nofollow"));
    builder
});

pub fn markdown_to_safe_html(markdown: &str) -> String {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    options.insert(Options::ENABLE_TASKLISTS);
    let mut unsafe_html = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut unsafe_html, Parser::new_ext(markdown, options));
    SANITIZER.clean(&unsafe_html).to_string()
}

/// The words of a Markdown body without its markup (for the search index and snippets): text,
/// inline code and code blocks; raw HTML is dropped.
pub fn markdown_to_text(markdown: &str) -> String {
    use pulldown_cmark::{Event, TagEnd};
    let mut text = String::with_capacity(markdown.len());
    for event in Parser::new_ext(markdown, Options::ENABLE_TABLES) {
        match event {
            Event::Text(t) | Event::Code(t) => text.push_str(&t),
            Event::SoftBreak | Event::HardBreak => text.push(' '),
            Event::End(
                TagEnd::Paragraph | TagEnd::Heading(_) | TagEnd::Item | TagEnd::CodeBlock,
            ) => text.push('\n'),
            _ => {}
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_keeps_words_and_drops_markup() {
        let text = markdown_to_text(
            "# Tokio\n\nSome *async* `code` <script>x()</script> [link](http://a)",
        );
        assert!(text.contains("Tokio"), "{text}");
        assert!(text.contains("Some async code"), "{text}");
        assert!(text.contains("link"), "{text}");
        assert!(
            !text.contains('*') && !text.contains("script") && !text.contains("http"),
            "{text}"
        );
    }

    #[test]
    fn markdown_renders() {
        let html = markdown_to_safe_html("# Title\n\nSome *emphasis* and `code`.\n\n- a\n- b");
        assert!(html.contains("<h1>Title</h1>"), "{html}");
        assert!(html.contains("<em>emphasis</em>"), "{html}");
        assert!(html.contains("<code>code</code>"), "{html}");
        assert!(html.contains("<li>a</li>"), "{html}");
    }

    #[test]
    fn scripts_handlers_and_javascript_urls_do_not_survive() {
        let evil = "Hi <script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n\
                    [click](javascript:alert(3)) <a href=\"JaVaScRiPt:alert(4)\">x</a>\n\n\
                    <iframe src=\"https://evil.example\"></iframe><style>body{}</style>";
        let html = markdown_to_safe_html(evil).to_lowercase();
        for banned in [
            "<script",
            "alert(1)",
            "onerror",
            "javascript:",
            "<iframe",
            "<style",
        ] {
            assert!(!html.contains(banned), "{banned} survived: {html}");
        }
        assert!(
            html.contains("<img src=\"x\">"),
            "harmless parts stay: {html}"
        );
    }

    #[test]
    fn links_get_safe_rel() {
        let html = markdown_to_safe_html("[site](https://example.com)");
        assert!(
            html.contains("rel=\"noopener noreferrer nofollow\""),
            "{html}"
        );
    }
}
