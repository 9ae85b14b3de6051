// The default theme, with the landing page's benchmark chart.
import DefaultTheme from 'vitepress/theme'
import BenchChart from './BenchChart.vue'

export default {
  extends: DefaultTheme,
  enhanceApp({ app }) {
    app.component('BenchChart', BenchChart)
  },
}
