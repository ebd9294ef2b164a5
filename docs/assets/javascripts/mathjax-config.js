// MathJax 3 set-up for pymdownx.arithmatex (generic mode) and notebook cells.
// Only elements with these classes are typeset, so a "$" in ordinary prose or code stays a dollar.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex|jp-RenderedMarkdown|jp-MarkdownOutput",
  },
};

// Material swaps pages without a reload ("instant" navigation); typeset each new page.
if (typeof document$ !== "undefined") {
  document$.subscribe(() => {
    if (window.MathJax && MathJax.typesetPromise) {
      if (MathJax.startup.output.clearCache) MathJax.startup.output.clearCache();  // CHTML only
      MathJax.typesetClear();
      MathJax.texReset();
      MathJax.typesetPromise();
    }
  });
}
