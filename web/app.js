/* movierec web UI: talks to the API (same origin) and posts ratings to the event service. */
'use strict';

(function () {
  // The 18 MovieLens genres ("unknown" is not something anyone picks).
  const GENRES = ['Action', 'Adventure', 'Animation', "Children's", 'Comedy', 'Crime',
    'Documentary', 'Drama', 'Fantasy', 'Film-Noir', 'Horror', 'Musical', 'Mystery', 'Romance',
    'Sci-Fi', 'Thriller', 'War', 'Western'];
  const SECTION_TITLES = {
    personalized: 'Recommended for you',
    trending: 'Trending now',
    hidden_gems: 'Hidden gems',
    genre: 'Because you like these genres',
  };
  const cfg = window.MOVIEREC || {};
  // /config.js names the event service; without it, guess its default port on this host.
  const EVENTS = String(cfg.events || `${location.protocol}//${location.hostname}:8001`)
    .replace(/\/+$/, '');
  const API = String(cfg.api || '').replace(/\/+$/, '');
  // Set only when the operator started the API with --ui-token (the event service's token).
  const TOKEN = cfg.token ? String(cfg.token) : '';

  const state = {
    user: null,         // current user id (number)
    genres: [],         // genres picked by a new user, sent with every sections request
    isNew: false,
    sections: null,     // the last sections response
    ratings: new Map(), // movie id -> the rating this user gave (from the API and this session)
    seq: 0,             // guards against an older sections response overwriting a newer one
  };

  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  function el(tag, attrs = {}, children = []) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k === 'style') e.setAttribute('style', v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of [].concat(children)) {
      if (c !== null && c !== undefined) e.append(c);
    }
    return e;
  }

  /* ---------- HTTP ---------- */

  class HttpError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  // Reads a JSON body; an error status becomes an HttpError carrying the API's {"error": ...}.
  async function readJSON(res, what) {
    const text = await res.text();
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch (_) {
      body = null;
    }
    if (!res.ok) {
      const msg = (body && body.error) || text.trim() || res.statusText || 'request failed';
      throw new HttpError(res.status, `${what}: ${msg} (HTTP ${res.status})`);
    }
    if (body === null) throw new HttpError(res.status, `${what}: the answer was not JSON`);
    return body;
  }

  async function getJSON(path, what) {
    let res;
    try {
      res = await fetch(API + path, { headers: { Accept: 'application/json' } });
    } catch (e) {
      throw new HttpError(0, `${what}: cannot reach the API (${e.message})`);
    }
    return readJSON(res, what);
  }

  // The contract says: retry on 503 and on connection errors, with backoff; 4xx is final.
  async function postRating(movieId, rating) {
    const body = JSON.stringify({ user_id: state.user, movie_id: movieId, rating });
    const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
    if (TOKEN) headers.Authorization = `Bearer ${TOKEN}`;
    let lastErr = null;
    for (let attempt = 0; attempt < 3; attempt++) {
      if (attempt) await sleep(300 * 2 ** (attempt - 1));
      let res;
      try {
        res = await fetch(`${EVENTS}/interact`, {
          method: 'POST',
          headers,
          body,
        });
      } catch (e) {
        lastErr = new HttpError(0, `Rating not sent: cannot reach the event service at ${EVENTS}`);
        continue;
      }
      if (res.status === 503) {
        lastErr = await readJSON(res, 'Rating not sent').catch((e) => e);
        continue;
      }
      const out = await readJSON(res, 'Rating not accepted');
      if (res.status !== 202) throw new HttpError(res.status, `Rating not accepted (HTTP ${res.status})`);
      return out;
    }
    throw lastErr;
  }

  /* ---------- feedback ---------- */

  let toastTimer = null;
  function toast(msg, kind = 'ok') {
    const t = $('#toast');
    t.textContent = msg;
    t.className = `toast ${kind}`;
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { t.hidden = true; }, kind === 'error' ? 6000 : 3000);
  }

  function showError(msg) {
    const box = $('#error');
    box.replaceChildren(
      el('strong', { text: 'Something went wrong. ' }),
      el('span', { class: 'error-msg', text: msg }),
      el('button', { type: 'button', class: 'link', 'aria-label': 'Dismiss the error', text: 'Dismiss' }),
    );
    $('button', box).addEventListener('click', clearError);
    box.hidden = false;
  }

  function clearError() {
    $('#error').hidden = true;
  }

  /* ---------- movies and cards ---------- */

  // MovieLens titles read "Usual Suspects, The (1995)": show "The Usual Suspects".
  function displayTitle(item) {
    let t = String(item.title || `Movie ${item.movie_id}`).replace(/\s*\(\d{4}\)\s*$/, '');
    const m = t.match(/^(.*), (The|A|An|Les|La|Le|Il|El|Das|Der|Die)$/);
    if (m) t = `${m[2]} ${m[1]}`;
    return t;
  }

  function initials(title) {
    const words = title.replace(/['\u2019]/g, '').replace(/[^\p{L}\p{N}\s]/gu, ' ').split(/\s+/).filter(Boolean);
    const skip = new Set(['the', 'a', 'an', 'of', 'and', 'les', 'la', 'le']);
    const main = words.filter((w) => !skip.has(w.toLowerCase()));
    const use = (main.length ? main : words).slice(0, 2);
    return use.map((w) => w[0].toUpperCase()).join('') || '?';
  }

  // The IMDb file stores a srcset ("url 190w, url 285w"): take its first URL.
  function posterSrc(url) {
    if (!url || typeof url !== 'string') return '';
    const m = url.match(/https?:\/\/[^\s,]+/);
    return m ? m[0] : '';
  }

  function yearOf(item) {
    if (item.year) return String(item.year);
    const m = String(item.title || '').match(/\((\d{4})\)\s*$/);
    return m ? m[1] : '';
  }

  function genresOf(item) {
    return Array.isArray(item.genres) ? item.genres : [];
  }

  function formatScore(s) {
    if (typeof s !== 'number' || !isFinite(s)) return null;
    const a = Math.abs(s);
    // Scores differ by section (model scores, decayed counts, weighted votes): keep them short.
    if (a >= 1e6) return `${(s / 1e6).toFixed(1)}M`;
    if (a >= 1e4) return `${(s / 1e3).toFixed(0)}k`;
    return a >= 100 ? s.toFixed(0) : a >= 10 ? s.toFixed(1) : s.toFixed(2);
  }

  function poster(item, title) {
    const hue = (Number(item.movie_id) * 47) % 360;
    const ph = el('div', { class: 'ph', 'aria-hidden': 'true' }, [
      el('span', { class: 'ph-initials', text: initials(title) }),
      el('span', { class: 'ph-title', text: title }),
    ]);
    const box = el('div', { class: 'poster', style: `--hue:${hue}` }, [ph]);
    const src = posterSrc(item.poster_url);
    if (src) {
      // The placeholder stays underneath until the image really loaded; a failed image
      // (no network, 404) is removed so the placeholder shows.
      const img = el('img', { alt: `Poster of ${title}`, loading: 'lazy', decoding: 'async',
        referrerpolicy: 'no-referrer' });
      img.addEventListener('load', () => img.classList.add('loaded'));
      img.addEventListener('error', () => img.remove());
      img.src = src;
      box.append(img);
    }
    return box;
  }

  function stars(item, title) {
    const group = el('div', { class: 'stars', role: 'group', 'aria-label': `Rate ${title}` });
    for (let r = 1; r <= 5; r++) {
      group.append(el('button', {
        type: 'button', class: 'star', 'data-rate': r, 'data-movie-id': item.movie_id,
        'aria-label': `Rate ${title} ${r} star${r > 1 ? 's' : ''}`, 'aria-pressed': 'false',
        title: `${r} star${r > 1 ? 's' : ''}`, text: '\u2605',
      }));
    }
    return group;
  }

  function card(item) {
    const title = displayTitle(item);
    const year = yearOf(item);
    const score = formatScore(item.score);
    const genres = genresOf(item);
    const c = el('article', {
      class: 'card', role: 'listitem', 'data-movie-id': item.movie_id,
      'data-genres': genres.join(','), 'aria-label': year ? `${title} (${year})` : title,
    }, [
      poster(item, title),
      el('div', { class: 'meta' }, [
        el('h4', { class: 'title', title: item.title || title }, [
          el('button', { type: 'button', class: 'open-movie', 'data-movie-id': item.movie_id, text: title }),
        ]),
        el('div', { class: 'sub' }, [
          el('span', { class: 'year', text: year }),
          score !== null ? el('span', { class: 'score', title: 'Score', text: score }) : null,
        ]),
        genres.length ? el('div', { class: 'genre-tags', text: genres.slice(0, 3).join(' · ') }) : null,
        stars(item, title),
      ]),
    ]);
    markRated(c);
    return c;
  }

  // Shows this user's rating on a card (filled stars up to it).
  function markRated(cardEl) {
    const r = state.ratings.get(Number(cardEl.dataset.movieId)) || 0;
    cardEl.classList.toggle('rated', r > 0);
    for (const b of $$('button.star', cardEl)) {
      const v = Number(b.dataset.rate);
      b.classList.toggle('on', v <= r);
      b.setAttribute('aria-pressed', v === r ? 'true' : 'false');
    }
  }

  function markAllRated() {
    $$('.card').forEach(markRated);
  }

  /* ---------- sections ---------- */

  function sectionsPath() {
    const q = state.genres.length ? `?genres=${state.genres.map(encodeURIComponent).join(',')}` : '';
    return `/recommendations/${state.user}/sections${q}`;
  }

  function idsOf(data, name) {
    const s = ((data && data.sections) || []).find((x) => x.name === name);
    return s ? (s.items || []).map((i) => i.movie_id).join(',') : '';
  }

  function renderSections(data, changed) {
    const root = $('#sections');
    const out = [];
    for (const s of data.sections || []) {
      const items = s.items || [];
      const title = s.title || SECTION_TITLES[s.name] || s.name;
      const head = el('div', { class: 'section-head' }, [
        el('h3', { text: title }),
        el('span', { class: 'muted count', text: `${items.length} movie${items.length === 1 ? '' : 's'}` }),
      ]);
      const row = el('div', { class: 'row', role: 'list' },
        items.length ? items.map(card) : [el('p', { class: 'empty muted', text: 'Nothing here yet.' })]);
      const sec = el('section', {
        class: `section${changed && changed.has(s.name) ? ' updated' : ''}`,
        'data-section': s.name, 'aria-label': title,
      }, [head, row]);
      out.push(sec);
    }
    if (!out.length) out.push(el('p', { class: 'empty muted', text: 'No recommendations returned.' }));
    root.replaceChildren(...out);
    const meta = el('p', { class: 'model muted', text: data.model_version ? `model ${data.model_version}` : '' });
    root.append(meta);
  }

  async function fetchSections() {
    return getJSON(sectionsPath(), 'Recommendations');
  }

  async function loadSections() {
    const seq = ++state.seq;
    const root = $('#sections');
    root.setAttribute('aria-busy', 'true');
    if (!state.sections) root.replaceChildren(el('p', { class: 'loading muted', text: 'Loading recommendations\u2026' }));
    try {
      const data = await fetchSections();
      if (seq !== state.seq) return;
      state.sections = data;
      renderSections(data);
      clearError();
    } catch (e) {
      if (seq !== state.seq) return;
      root.replaceChildren();
      showError(e.message);
    } finally {
      if (seq === state.seq) root.setAttribute('aria-busy', 'false');
    }
  }

  // After a rating the consumer stores it and the API recomputes: poll (up to 2 s) until the
  // personalized row differs, so the change shows without a manual reload.
  async function refreshAfterRating() {
    const seq = ++state.seq;
    const before = state.sections;
    const deadline = Date.now() + 2000;
    let data = null;
    await sleep(150);
    for (;;) {
      try {
        data = await fetchSections();
      } catch (e) {
        if (seq === state.seq) showError(e.message);
        return;
      }
      if (seq !== state.seq) return;
      if (idsOf(data, 'personalized') !== idsOf(before, 'personalized') || Date.now() > deadline) break;
      await sleep(250);
    }
    const changed = new Set();
    for (const s of data.sections || []) {
      if (idsOf(data, s.name) !== idsOf(before, s.name)) changed.add(s.name);
    }
    state.sections = data;
    renderSections(data, changed);
    clearError();
  }

  /* ---------- ratings panel ---------- */

  function listOf(body, keys) {
    if (Array.isArray(body)) return body;
    for (const k of keys) if (body && Array.isArray(body[k])) return body[k];
    return [];
  }

  async function loadRatings() {
    const user = state.user;
    let list = [];
    try {
      const body = await getJSON(`/users/${user}/ratings`, 'Your ratings');
      list = listOf(body, ['ratings', 'items']);
    } catch (e) {
      if (e.status !== 404) {
        showError(e.message);
        return;
      }
    }
    if (user !== state.user) return;
    // Keep this session's ratings that the API has not stored yet.
    const fromApi = new Map(list.map((r) => [Number(r.movie_id), Number(r.rating)]));
    for (const [m, r] of state.ratings) if (!fromApi.has(m)) list.unshift({ movie_id: m, rating: r, pending: true });
    state.ratings = new Map(list.map((r) => [Number(r.movie_id), Number(r.rating)]));
    renderRatings(list);
    markAllRated();
  }

  function renderRatings(list) {
    const panel = $('#ratings-panel');
    panel.hidden = false;
    $('#ratings-count').textContent = `(${list.length})`;
    const ol = $('#ratings-list');
    if (!list.length) {
      ol.replaceChildren(el('li', { class: 'muted', text: 'No ratings yet: rate a movie with the stars.' }));
      return;
    }
    ol.replaceChildren(...list.slice(0, 100).map((r) => {
      const n = Math.max(0, Math.min(5, Number(r.rating) || 0));
      const title = r.title ? displayTitle(r) : `Movie ${r.movie_id}`;
      const when = r.ts ? new Date(r.ts * 1000).toLocaleDateString() : (r.pending ? 'just now' : '');
      return el('li', { 'data-movie-id': r.movie_id, 'data-rating': n }, [
        el('span', { class: 'r-stars', 'aria-label': `${n} of 5 stars`, text: '\u2605'.repeat(n) + '\u2606'.repeat(5 - n) }),
        el('span', { class: 'r-title', text: title }),
        when ? el('span', { class: 'r-when muted', text: when }) : null,
      ]);
    }));
  }

  /* ---------- search ---------- */

  async function search(q) {
    const box = $('#search-results');
    const row = $('.row', box);
    box.hidden = false;
    row.replaceChildren(el('p', { class: 'loading muted', text: 'Searching\u2026' }));
    try {
      const body = await getJSON(`/movies?q=${encodeURIComponent(q)}&limit=20`, 'Search');
      const items = listOf(body, ['items', 'movies', 'results']);
      row.replaceChildren(...(items.length ? items.map(card)
        : [el('p', { class: 'empty muted', text: `No movie matches \u201c${q}\u201d.` })]));
      clearError();
    } catch (e) {
      row.replaceChildren();
      showError(e.message);
    }
  }

  /* ---------- movie view: details and "more like this" ---------- */

  let movieSeq = 0;
  async function openMovie(id) {
    const seq = ++movieSeq;
    const panel = $('#movie-panel');
    const row = $('#similar .row');
    panel.hidden = false;
    panel.dataset.movieId = String(id);
    $('#movie-title').textContent = 'Loading\u2026';
    $('#movie-meta').textContent = '';
    $('#movie-people').textContent = '';
    $('#movie-desc').textContent = '';
    $('#movie-poster').replaceChildren();
    $('#similar-count').textContent = '';
    row.replaceChildren(el('p', { class: 'loading muted', text: 'Finding similar movies\u2026' }));
    panel.scrollIntoView({ block: 'start' });
    const [details, similar] = await Promise.allSettled([
      getJSON(`/movies/${id}`, 'Movie'),
      getJSON(`/movies/${id}/similar?n=12`, 'Similar movies'),
    ]);
    if (seq !== movieSeq) return;
    if (details.status === 'fulfilled') {
      const m = details.value;
      const title = displayTitle(m);
      $('#movie-title').textContent = yearOf(m) ? `${title} (${yearOf(m)})` : title;
      const meta = [genresOf(m).join(', '),
        m.runtime_min ? `${m.runtime_min} min` : '',
        m.age_rating || '',
        m.imdb_rating ? `IMDb ${Number(m.imdb_rating).toFixed(1)}` : ''].filter(Boolean);
      $('#movie-meta').textContent = meta.join(' \u00b7 ');
      const people = [];
      if (Array.isArray(m.directors) && m.directors.length) people.push(`Directed by ${m.directors.join(', ')}`);
      if (Array.isArray(m.cast) && m.cast.length) people.push(`With ${m.cast.slice(0, 5).join(', ')}`);
      $('#movie-people').textContent = people.join(' \u2014 ');
      $('#movie-desc').textContent = m.description || '';
      $('#movie-poster').replaceChildren(poster(m, title));
      clearError();
    } else {
      $('#movie-title').textContent = `Movie ${id}`;
      showError(details.reason.message);
    }
    if (similar.status === 'fulfilled') {
      const items = listOf(similar.value, ['items']);
      $('#similar-count').textContent = `${items.length} movie${items.length === 1 ? '' : 's'}`;
      row.replaceChildren(...(items.length ? items.map(card)
        : [el('p', { class: 'empty muted', text: 'No similar movies.' })]));
    } else {
      // An older model version has no semantic model (503): say so in the row, not as a page error.
      row.replaceChildren(el('p', { class: 'empty muted', text: similar.reason.message }));
    }
  }

  /* ---------- rating ---------- */

  async function rate(btn) {
    if (!state.user) return;
    const cardEl = btn.closest('.card');
    const movieId = Number(btn.dataset.movieId);
    const rating = Number(btn.dataset.rate);
    const title = cardEl ? cardEl.getAttribute('aria-label') : `movie ${movieId}`;
    const buttons = $$(`.card[data-movie-id="${movieId}"] button.star`);
    buttons.forEach((b) => { b.disabled = true; });
    try {
      await postRating(movieId, rating);
      state.ratings.set(movieId, rating);
      $$(`.card[data-movie-id="${movieId}"]`).forEach(markRated);
      toast(`Rated ${title} ${'\u2605'.repeat(rating)} \u2014 updating your picks\u2026`);
      await refreshAfterRating();
      await loadRatings();
    } catch (e) {
      toast(e.message, 'error');
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  /* ---------- user selection ---------- */

  function setUser(id, genres, isNew) {
    state.user = id;
    state.genres = genres || [];
    state.isNew = !!isNew;
    state.sections = null;
    state.ratings = new Map();
    $('#user-id').value = String(id);
    const who = isNew ? `New user #${id}` : `User #${id}`;
    $('#who').textContent = state.genres.length ? `${who} \u00b7 ${state.genres.join(', ')}` : who;
    const params = new URLSearchParams({ user: String(id) });
    if (state.genres.length) params.set('genres', state.genres.join(','));
    if (isNew) params.set('new', '1');
    history.replaceState(null, '', `${location.pathname}?${params}`);
    $('#search-panel').hidden = false;
    $('#search-results').hidden = true;
    $('#search-q').value = '';
    $('#genre-form').hidden = true;
    $('#new-user').setAttribute('aria-expanded', 'false');
    loadSections();
    loadRatings();
  }

  function parseUser(v) {
    const s = String(v).trim();
    if (!/^\d{1,9}$/.test(s) || Number(s) < 1) return null;
    return Number(s);
  }

  function newUserId() {
    // Beyond MovieLens' 943 users, so the API treats it as a cold start.
    const a = new Uint32Array(1);
    crypto.getRandomValues(a);
    return 100000 + (a[0] % 900000);
  }

  function buildGenres() {
    const box = $('#genres');
    box.replaceChildren(...GENRES.map((g) => {
      const id = `genre-${g.replace(/[^A-Za-z]/g, '')}`;
      return el('label', { class: 'genre', for: id }, [
        el('input', { type: 'checkbox', id, name: 'genre', value: g, 'data-genre': g }),
        el('span', { text: g }),
      ]);
    }));
  }

  function wire() {
    $('#user-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const id = parseUser($('#user-id').value);
      if (id === null) {
        showError('A user id is a whole number from 1 up.');
        return;
      }
      setUser(id, [], false);
    });
    $('#suggested').addEventListener('click', (ev) => {
      const b = ev.target.closest('button[data-user]');
      if (b) setUser(Number(b.dataset.user), [], false);
    });
    $('#new-user').addEventListener('click', () => {
      const f = $('#genre-form');
      f.hidden = !f.hidden;
      $('#new-user').setAttribute('aria-expanded', String(!f.hidden));
      if (!f.hidden) $('input', f).focus();
    });
    $('#genre-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const picked = $$('#genres input:checked').map((i) => i.value);
      if (!picked.length) {
        showError('Pick at least one genre you like.');
        return;
      }
      setUser(newUserId(), picked, true);
    });
    $('#search-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const q = $('#search-q').value.trim();
      if (q) search(q);
    });
    $('#search-clear').addEventListener('click', () => {
      $('#search-results').hidden = true;
      $('#search-q').value = '';
    });
    // One listener for every star on the page (sections re-render often).
    document.addEventListener('click', (ev) => {
      const b = ev.target.closest('button.star');
      if (b && !b.disabled) {
        rate(b);
        return;
      }
      // A card's title or poster opens the movie view.
      const open = ev.target.closest('.card .open-movie, .card .poster');
      const c = open && open.closest('.card');
      if (c && Number(c.dataset.movieId) > 0) openMovie(Number(c.dataset.movieId));
    });
    $('#movie-close').addEventListener('click', () => {
      movieSeq++;
      $('#movie-panel').hidden = true;
    });
  }

  function start() {
    buildGenres();
    wire();
    const p = new URLSearchParams(location.search);
    const id = parseUser(p.get('user') || '');
    if (id !== null) {
      const genres = (p.get('genres') || '').split(',').map((g) => g.trim()).filter((g) => GENRES.includes(g));
      setUser(id, genres, p.get('new') === '1');
    }
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
