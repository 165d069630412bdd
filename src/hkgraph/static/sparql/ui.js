// The SPARQL page with JavaScript: YASGUI on our endpoint, the graph's prefixes and examples,
// labels and entity-page links in the result table. Without YASGUI the plain form stays.
(function () {
  "use strict";
  var holder = document.getElementById("yasgui");
  var config = JSON.parse(document.getElementById("sparql-config").textContent);
  if (!holder || typeof window.Yasgui === "undefined") return;

  var labels = {}; // IRI -> label, filled after each result is drawn
  var asked = {}; // IRIs whose labels were already requested
  var IRI_OK = /^[^<>"{}|^`\\\s]+$/;
  var LANGS = [config.language, "en", "zh-hans", "zh-hant", ""];

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  // Our IRIs link to their pages here; a web address to itself; any other IRI (javascript:, data:) to
  // what the graph says about it, never as a live link.
  function pageOf(iri) {
    if (iri.indexOf(config.base) === 0) return config.root + iri.slice(config.base.length);
    if (/^(https?|mailto):/i.test(iri)) return iri;
    return config.endpoint + "?query=" + encodeURIComponent("DESCRIBE <" + iri + ">");
  }

  function shortName(iri, prefixes) {
    var best = null; // the longest matching namespace, so hkgm: wins over hkg:
    for (var p in prefixes) {
      var ns = prefixes[p];
      if (iri.indexOf(ns) === 0 && iri.length > ns.length && (!best || ns.length > prefixes[best].length)) best = p;
    }
    return best ? best + ":" + iri.slice(prefixes[best].length) : iri;
  }

  // IRIs in the table: the label (escaped) and a link to the entity's page on this server.
  Yasgui.Yasr.plugins.table.prototype.getUriLinkFromBinding = function (binding, prefixes) {
    var iri = binding.value;
    var shown = escapeHtml(shortName(iri, Object.assign({}, config.prefixes, prefixes || {})));
    var label = labels[iri];
    var text = label ? '<span class="label">' + escapeHtml(label) + '</span> <span class="curie">' + shown + "</span>" : shown;
    return '<a class="iri" href="' + escapeHtml(pageOf(iri)) + '" title="' + escapeHtml(iri) + '">' + text + "</a>";
  };

  // The table's sort and filter text: the value escaped, so that no value is ever parsed as HTML (YASR
  // would sanitise the raw value by parsing it, which a Content-Security-Policy reports as a violation).
  var getColumns = Yasgui.Yasr.plugins.table.prototype.getColumns;
  Yasgui.Yasr.plugins.table.prototype.getColumns = function () {
    return getColumns.call(this).map(function (column) {
      var render = column.render;
      column.render = function (cell, type, row, meta) {
        var text = cell && typeof cell === "object" && (type === "filter" || type === "sort" || !type);
        return text ? escapeHtml(cell.value) : render(cell, type, row, meta);
      };
      return column;
    });
  };

  function fetchLabels(iris) {
    var query = "SELECT ?s ?label WHERE { VALUES ?s { " + iris.map(function (i) { return "<" + i + ">"; }).join(" ") +
      " } ?s <http://www.w3.org/2000/01/rdf-schema#label> ?label }";
    return fetch(config.endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/sparql-results+json" },
      body: new URLSearchParams({ query: query }),
    }).then(function (r) { return r.ok ? r.json() : { results: { bindings: [] } }; });
  }

  function rank(lang) {
    var i = LANGS.indexOf((lang || "").toLowerCase());
    return i < 0 ? LANGS.length : i;
  }

  function addLabels(yasr) {
    if (!yasr.results || !yasr.results.getBindings) return;
    var wanted = [];
    (yasr.results.getBindings() || []).forEach(function (row) {
      Object.keys(row).forEach(function (name) {
        var term = row[name];
        if (term && term.type === "uri" && !asked[term.value] && IRI_OK.test(term.value) && wanted.length < 500) {
          asked[term.value] = true;
          wanted.push(term.value);
        }
      });
    });
    if (!wanted.length) return;
    fetchLabels(wanted).then(function (data) {
      var best = {};
      data.results.bindings.forEach(function (b) {
        var iri = b.s.value, r = rank(b.label["xml:lang"]);
        if (!(iri in best) || r < best[iri].rank) best[iri] = { rank: r, text: b.label.value };
      });
      Object.keys(best).forEach(function (iri) { labels[iri] = best[iri].text; });
      if (Object.keys(best).length) yasr.draw();
    });
  }

  var yasgui = new Yasgui(holder, {
    requestConfig: { endpoint: config.endpoint, method: "POST" },
    copyEndpointOnNewTab: false,
    populateFromUrl: false,
    autofocus: false,
    endpointCatalogueOptions: { getData: function () { return [{ endpoint: config.endpoint }]; } },
    yasqe: { value: config.defaultQuery, autocompleters: ["prefixes", "variables"], prefixCcApi: null },
    yasr: { prefixes: config.prefixes, defaultPlugin: "table" },
  });
  document.getElementById("plain-form").hidden = true;
  document.getElementById("yasgui-tools").hidden = false;

  function formsFor(query) {
    var graph = /\b(CONSTRUCT|DESCRIBE)\b/i.test(query.replace(/#[^\n]*/g, ""));
    return graph ? ["turtle", "ntriples", "nquads", "trig", "jsonld", "rdfxml"] : ["json", "xml", "csv", "tsv"];
  }

  function updateDownloads(tab) {
    var query = tab.getQuery();
    var links = formsFor(query).map(function (f) {
      var href = config.endpoint + "?" + new URLSearchParams({ query: query, format: f }).toString();
      return '<a href="' + escapeHtml(href) + '" download>' + f + "</a>";
    });
    document.getElementById("downloads").innerHTML = "Download results: " + links.join(" ");
  }

  function watch(tab) {
    tab.getYasr().on("drawn", function (yasr) { addLabels(yasr); });
    tab.on("query", function () { updateDownloads(tab); });
    updateDownloads(tab);
  }

  Object.keys(yasgui._tabs).forEach(function (id) { watch(yasgui.getTab(id)); });
  yasgui.on("tabAdd", function (instance, id) { setTimeout(function () { watch(yasgui.getTab(id)); }, 0); });
  yasgui.on("tabSelect", function (instance, id) { setTimeout(function () { updateDownloads(yasgui.getTab(id)); }, 0); });

  function open(query) {
    var tab = yasgui.getTab();
    tab.setQuery(query);
    updateDownloads(tab);
    tab.query();
  }

  document.getElementById("example-select").addEventListener("change", function (event) {
    var example = config.examples[Number(event.target.value)];
    if (example) open(example.text);
  });

  if (config.query) open(config.query);
})();
