// The dashboard's in-memory picture of the timeline, bounded: the newest MAX_FLOWS flows.
// Events are deduplicated by eventId and kept in position order; deliveries are upserted
// by id (idempotent), so replays and overlapping batches never show anything twice.

export const MAX_FLOWS = 400;
export const MAX_EVENTS_PER_FLOW = 1000;

export class Flow {
  constructor(correlationId) {
    this.correlationId = correlationId;
    this.events = []; // sorted by position
    this.deliveries = new Map(); // id -> delivery
    this.version = 0;
    this.lastPosition = 0;
    this.complete = false; // loaded whole from the server
  }

  get firstEvent() {
    return this.events[0];
  }

  insert(event) {
    const list = this.events;
    if (!list.length || list[list.length - 1].position < event.position) list.push(event);
    else {
      let i = list.length;
      while (i > 0 && list[i - 1].position > event.position) i--;
      list.splice(i, 0, event);
    }
    if (list.length > MAX_EVENTS_PER_FLOW) list.shift();
    this.lastPosition = Math.max(this.lastPosition, event.position);
    this.version++;
  }

  deliveriesOf(position) {
    const found = [];
    for (const d of this.deliveries.values()) if (d.position === position) found.push(d);
    // By subscriber, then generation: a replayed delivery follows the original it repeats.
    return found.sort((a, b) => (a.subscriber === b.subscriber
      ? (a.generation || 0) - (b.generation || 0)
      : (a.subscriber < b.subscriber ? -1 : 1)));
  }

  statusCounts() {
    const counts = {};
    for (const d of this.deliveries.values()) counts[d.status] = (counts[d.status] || 0) + 1;
    return counts;
  }
}

export class Timeline {
  constructor() {
    this.registry = { eventTypes: [], expected: {}, subscribers: {}, sources: {} };
    this.clear();
  }

  clear() {
    this.flows = new Map();
    this.eventIds = new Map(); // eventId -> correlationId
    this.cursor = null;
    this.deliveriesSeen = null;
  }

  flow(correlationId, create = true) {
    let flow = this.flows.get(correlationId);
    if (!flow && create) {
      flow = new Flow(correlationId);
      this.flows.set(correlationId, flow);
    }
    return flow;
  }

  // Returns the events that were new to the page.
  addEvents(events) {
    const added = [];
    for (const event of events) {
      if (this.eventIds.has(event.eventId)) continue;
      this.eventIds.set(event.eventId, event.correlationId);
      this.flow(event.correlationId).insert(event);
      added.push(event);
    }
    return added;
  }

  upsertDeliveries(deliveries) {
    for (const d of deliveries) {
      if (d.updatedAt && (!this.deliveriesSeen || d.updatedAt > this.deliveriesSeen)) {
        this.deliveriesSeen = d.updatedAt;
      }
      const flow = this.flow(d.correlationId, false);
      if (!flow) continue; // an old flow this page no longer holds
      const known = flow.deliveries.get(d.id);
      if (known && known.updatedAt > d.updatedAt) continue;
      flow.deliveries.set(d.id, d);
      flow.version++;
    }
  }

  advance(cursor) {
    if (cursor !== null && cursor !== undefined && (this.cursor === null || cursor > this.cursor)) {
      this.cursor = cursor;
    }
  }

  // Drop the oldest flows beyond MAX_FLOWS (never the ones named in keep).
  trim(keep) {
    if (this.flows.size <= MAX_FLOWS * 1.1) return;
    const byAge = [...this.flows.values()].sort((a, b) => a.lastPosition - b.lastPosition);
    for (const flow of byAge.slice(0, this.flows.size - MAX_FLOWS)) {
      if (keep.has(flow.correlationId)) continue;
      for (const e of flow.events) this.eventIds.delete(e.eventId);
      this.flows.delete(flow.correlationId);
    }
  }

  // Newest first (by the flow's latest event).
  sortedFlows(filter) {
    return [...this.flows.values()]
      .filter((f) => f.events.length && filter(f))
      .sort((a, b) => b.lastPosition - a.lastPosition);
  }

  laneOfSource(source) {
    return this.registry.sources[source] || source.replace(/-service$/, "");
  }

  laneOfSubscriber(name) {
    return this.registry.subscribers[name] || name.split(".")[0];
  }

  missingSubscribers(flow, event) {
    // A correction (edit & retry) is for the one subscriber whose dead letter it replaces.
    const expected = event.correction ? [event.correction.subscriber] : this.registry.expected[event.eventType] || [];
    const got = new Set(flow.deliveriesOf(event.position).map((d) => d.subscriber));
    return expected.filter((name) => !got.has(name));
  }
}
