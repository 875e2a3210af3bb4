// The Map page's chart: a plotly.js figure in a Streamlit component (protocol v1, spoken here
// without the npm helper), so that a click marks its point without drawing every point again.
//
// Why not st.plotly_chart: it sets clickmode "event+select" whenever points can be picked, and
// plotly.js then restyles every trace on a click; on a scattergl map of 70,000 points in a
// browser without a GPU that redraw held the pick back for 130-220 ms. Here clickmode is
// "event" and a pick is an SVG shape (18-20 ms at any size, docs/measurements.md). Box and
// lasso still select through plotly.js (one redraw at the end of a drag).
//
// The figure itself is not in the component's arguments (they travel with every rerun): the
// server writes it once as figures/<id>.json beside this page, and the arguments name it.
"use strict";
(function () {
  const gd = document.getElementById("map");
  const note = document.getElementById("note");
  let shown = null;        // the id of the figure drawn
  let loading = null;      // the id of the figure being fetched
  let cleared = null;      // the last "clear" count seen
  let figureShapes = [];   // the figure's own shapes
  let ringSize = 14;       // their diameter in px, as the figure's ring traces had it
  let dimmed = false;      // plotly.js styles a selection on some trace (a box, a lasso, many picks)
  let wired = false;
  let events = 0;

  function post(type, data) {
    window.parent.postMessage(Object.assign({isStreamlitMessage: true, type: type}, data), "*");
  }

  // each event gets a token of its own: the server acts on a value once, however often it reruns
  function send(points) {
    events += 1;
    post("streamlit:setComponentValue", {
      value: {event: Date.now() + "-" + events, selection: {points: points}}, dataType: "json"});
  }

  function pointOf(p) {
    return {customdata: p.customdata === undefined ? null : p.customdata,
            legendgroup: (p.data && p.data.legendgroup) || null, x: p.x, y: p.y};
  }

  function indexOf(p) {
    const cd = Array.isArray(p.customdata) ? p.customdata[0] : p.customdata;
    return typeof cd === "number" && cd >= 0 ? cd : -1;
  }

  // a plotly.py typed array ({dtype, bdata}) or a plain one, as an array
  const TYPES = {f8: Float64Array, f4: Float32Array, i4: Int32Array, u4: Uint32Array, i2: Int16Array,
                 u2: Uint16Array, i1: Int8Array, u1: Uint8Array};
  function values(v) {
    if (!v) return [];
    if (Array.isArray(v) || ArrayBuffer.isView(v)) return v;
    if (v.bdata && TYPES[v.dtype]) {
      const bin = atob(v.bdata);
      const bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      return new TYPES[v.dtype](bytes.buffer);
    }
    return [];
  }

  // a black ring on a white halo: it shows on dark clusters and light ones alike
  function ring(x, y, size) {
    const r = size / 2;
    const at = {type: "circle", xref: "x", yref: "y", xsizemode: "pixel", ysizemode: "pixel",
                xanchor: x, yanchor: y, x0: -r, x1: r, y0: -r, y1: r, layer: "above"};
    return [Object.assign({line: {color: "#FFFFFF", width: 4}}, at),
            Object.assign({line: {color: "#000000", width: 2}}, at)];
  }

  // The figure's ring traces (meta "ring") become shapes: a later click then replaces them
  // without touching the WebGL canvas. The traces stay, empty, for their legend entry.
  function takeRings(data) {
    const shapes = [];
    for (const t of data) {
      if (t.meta !== "ring") continue;
      const xs = values(t.x), ys = values(t.y);
      if (t.marker && typeof t.marker.size === "number") ringSize = t.marker.size;
      for (let i = 0; i < xs.length; i++) shapes.push(...ring(xs[i], ys[i], ringSize));
      t.x = []; t.y = []; t.customdata = [];
    }
    return shapes;
  }

  function setShapes(extra) {
    return Plotly.relayout(gd, {shapes: figureShapes.concat(extra)});
  }

  function undim() {
    if (!dimmed) return;
    dimmed = false;
    Plotly.restyle(gd, {selectedpoints: [null]});  // one redraw, only after a box, lasso or many picks
  }

  // A double-click in box or lasso mode lets go of everything. plotly.js says so itself
  // (plotly_deselect) only when its two clicks come within its own 300 ms, timed as it handles
  // them; on a busy machine it hears two clicks instead, and the browser sends no dblclick into
  // the chart (plotly.js covers the page while a button is down). The browser counts clicks as
  // they are made, not as they are handled: the mouse-down plotly.js passes with a click says
  // (`detail`) it is the second of a double-click. Its first click has picked the point by then:
  // this lets go after it.
  function secondClick(ev) {
    const mode = gd._fullLayout && gd._fullLayout.dragmode;
    return (mode === "select" || mode === "lasso") && !!ev.event && ev.event.detail >= 2;
  }

  function wire() {
    wired = true;
    gd.on("plotly_click", (ev) => {
      const p = ev && ev.points && ev.points[0];
      if (!p) return;
      if (secondClick(ev)) {  // a double-click in box or lasso mode: let go of everything
        send([]);
        mark([]);
        return;
      }
      send([pointOf(p)]);  // first: the message leaves before anything is drawn
      mark(indexOf(p) >= 0 ? ring(p.x, p.y, ringSize) : []);
    });
    gd.on("plotly_selected", (ev) => {
      if (!ev) return;  // a click in box or lasso mode: plotly_click has it
      dimmed = true;
      send((ev.points || []).map(pointOf));
      setShapes([]);
    });
    gd.on("plotly_deselect", () => {
      send([]);
      mark([]);
    });
  }

  // `shapes` (a ring, or none) as the only marks: any box or lasso and its dimming go
  function mark(shapes) {
    const update = {shapes: figureShapes.concat(shapes)};
    if (gd.layout.selections && gd.layout.selections.length) update.selections = [];
    Plotly.relayout(gd, update);  // one relayout for both
    undim();
  }

  function say(text) {
    note.textContent = text;
    note.hidden = !text;
  }

  // plotly.js (4.8 MB, most of a second to run here) is loaded once the first figure is asked
  // for, so that the figure's download goes on meanwhile; from the app's static folder when the
  // server says so (args.plotly: kept by the browser between visits), else from beside this page
  let plotly = null;
  function loadPlotly(url) {
    if (plotly === null) {
      plotly = new Promise((resolve, reject) => {
        const s = document.createElement("script");
        s.src = url || "plotly.min.js";
        s.onload = resolve;
        s.onerror = () => reject(new Error("its drawing code, plotly.min.js, did not load"));
        document.head.appendChild(s);
      });
    }
    return plotly;
  }

  async function getFigure(id) {
    const r = await fetch("figures/" + id + ".json");
    if (!r.ok) throw new Error("the server answered " + r.status);
    return r.json();
  }

  async function load(id, args, theme) {
    loading = id;
    let fig;
    try {
      const asked = getFigure(id);
      await loadPlotly(args.plotly);
      fig = await asked;
    } catch (err) {
      if (loading === id) {
        loading = null;
        say("The map could not be loaded (" + err.message + "). Reload the page to try again.");
      }
      return;
    }
    if (loading !== id) return;  // another figure was asked for meanwhile
    loading = null;
    say("");
    const layout = fig.layout || {};
    layout.clickmode = "event";
    layout.height = args.height;
    delete layout.width;
    // the app's typeface and text colour (Streamlit's theme, sent with each render)
    layout.font = Object.assign({}, layout.font, {family: '"Source Sans", sans-serif'},
                                theme && theme.textColor ? {color: theme.textColor} : {});
    const rings = takeRings(fig.data);  // the picks the figure was made with, as shapes
    figureShapes = layout.shapes || [];
    layout.shapes = figureShapes.concat(rings);
    await Plotly.react(gd, fig.data, layout, Object.assign({displaylogo: false, responsive: true}, args.config));
    shown = id;
    dimmed = fig.data.some((t) => t.selectedpoints !== undefined && t.selectedpoints !== null);
    if (!wired) wire();
  }

  window.addEventListener("message", (e) => {
    const m = e.data;
    if (!m || m.type !== "streamlit:render") return;
    const args = m.args || {};
    post("streamlit:setFrameHeight", {height: args.height});
    if (args.figure !== shown && args.figure !== loading) {
      load(args.figure, args, m.theme);
    } else if (cleared !== null && args.clear !== cleared && shown === args.figure) {
      mark([]);
    }
    cleared = args.clear;
  });

  post("streamlit:componentReady", {apiVersion: 1});
})();
