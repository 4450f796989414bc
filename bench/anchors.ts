/**
 * The peers' figures from shared/ANCHORS.md (measured elsewhere, on a machine of the same kind):
 * printed in docs/benchmarks.md for comparison, clearly apart from this run's figures.
 */
export const ANCHORS_MD = `| recorder | eff. fps | longest freeze | duration error | audio | A/V | A/V drift | CPU s/s |
|---|---|---|---|---|---|---|---|
| puppeteer \`page.screencast()\` (VP9) | 26.7 | 366 ms | +9.1 % | no | - | - | 9.37 |
| puppeteer-screen-recorder | 21-30 | 67-300 ms | -0.1 % | no | - | - | 1.2-1.7 |
| CDP screencast piped to ffmpeg | 18-22 | ~1.1 s | <= 0.8 % | no | - | - | 1.2-1.4 |
| Xvfb + ffmpeg x11grab + PulseAudio | 29.9 | 67 ms | +0.2 % | yes | -114 to -148 ms, varies run to run | +5 to +7 ms/min | 0.58-0.61 |
| tabCapture + MediaRecorder (puppeteer-stream; the original service's way) | 30.0 | 50-69 ms | <= 0.1 % | yes | +7 to +8 ms | -11 to +20 ms/min | 1.07 |
| the browser alone, no recording | - | - | - | - | - | - | 0.26 |

- Two recordings at once: x11grab 29.8 fps each using 57 % of the machine; tabCapture 26-28 fps with 260 ms freezes using 93 %.
- 1080p30: x11grab 29.9 fps at 0.94 CPU s/s; tabCapture 27.0 fps at 1.74 CPU s/s.`;
