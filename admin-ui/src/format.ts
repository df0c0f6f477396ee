import type { ModelState, ModelView, Pool } from './api';

export const percent = (value: number): string => `${Number(value.toFixed(2))}%`;
export const rate = (ratio: number): string => `${Number((ratio * 100).toFixed(ratio < 0.01 && ratio > 0 ? 2 : 1))}%`;
export const ms = (value: number | null): string => (value === null ? '—' : `${value < 10 ? value.toFixed(1) : Math.round(value)} ms`);
export const rps = (value: number): string => `${value < 10 ? value.toFixed(1) : Math.round(value)}/s`;

export function when(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

export function ago(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function duration(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  return `${Number((seconds / 3600).toFixed(1))} h`;
}

export const STATE_LABELS: Record<ModelState, string> = {
  steady: 'steady',
  canary: 'canary',
  'rolling-out': 'rolling out',
  paused: 'paused',
  'rolled-back': 'rolled back',
};

export const stateLabel = (state: ModelState): string => STATE_LABELS[state];

export function poolOf(model: ModelView, role: 'stable' | 'canary'): Pool | undefined {
  const version = role === 'stable' ? model.policy.stable : model.policy.canary;
  return version === null ? undefined : model.pools.find((p) => p.version === version);
}

/** The canary's share of the requests actually served over the stats window, or null without traffic. */
export function liveShare(model: ModelView): number | null {
  const stable = poolOf(model, 'stable')?.stats.rps ?? 0;
  const canary = poolOf(model, 'canary')?.stats.rps ?? 0;
  return stable + canary > 0 ? canary / (stable + canary) : null;
}
