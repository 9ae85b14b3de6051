// pinlb's documentation website: the Markdown of content/docs, as GitHub
// shows it, with a landing page, a sidebar, each page's outline and local
// search. `make website` builds it into public/.
import { readFileSync } from 'node:fs'
import { defineConfig } from 'vitepress'
import GithubSlugger from 'github-slugger'

// The sidebar is the list of pages in docs/index.md, in its order: one
// place to add a page.
function sidebar() {
  const index = readFileSync(new URL('../content/docs/index.md', import.meta.url), 'utf8')
  const items = [...index.matchAll(/^- \[([^\]]+)\]\(([a-z-]+)\.md\)/gm)].map(([, text, page]) => ({
    text,
    link: `/docs/${page}`,
  }))
  return [{ text: 'Documentation', items: [{ text: 'Overview', link: '/docs/' }, ...items] }]
}

export default defineConfig({
  title: 'pinlb',
  description: 'L4 load balancing for Pinpoint APM collectors, fed by Consul',
  srcDir: 'content',
  outDir: 'public',
  cleanUrls: false,
  lastUpdated: false,
  // The pages link to each other and to the repository's files as GitHub
  // resolves them; links out of content/ are the repository's.
  ignoreDeadLinks: [/^\.\.\//],
  markdown: {
    // GitHub's anchors (api.md#get-v1events), so that the same links work
    // on GitHub and here.
    anchor: { slugify: (s: string) => new GithubSlugger().slug(s) },
  },
  themeConfig: {
    nav: [
      { text: 'Docs', link: '/docs/' },
      { text: 'Configuration', link: '/docs/configuration' },
      { text: 'Commands', link: '/docs/commands' },
      { text: 'API', link: '/docs/api' },
    ],
    sidebar: sidebar(),
    outline: { level: [2, 3], label: 'On this page' },
    // Excerpts under each result: an attribute's name finds its row.
    search: { provider: 'local', options: { detailedView: true } },
  },
})
