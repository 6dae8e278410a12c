// Runs axe-core on the page with the given tags, leaving out the elements matching the selectors
// in exclude, and returns its violations, reduced to what a failure message needs.
async function (tags, exclude) {
  const result = await axe.run(
    { exclude: exclude.map((s) => [s]) },
    { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] },
  );
  return result.violations.map((v) => ({
    id: v.id,
    impact: v.impact || '',
    help: v.help,
    helpUrl: v.helpUrl,
    nodes: v.nodes.map((n) => ({ target: n.target, failureSummary: n.failureSummary || '' })),
  }));
}
