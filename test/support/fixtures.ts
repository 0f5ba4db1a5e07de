/** Builders of valid inputs; tests override the one field they are about. */

export function containerInput(overrides: Record<string, unknown> = {}) {
  return { name: 'app', imageUri: 'registry.example.com/team/app:1.0', primary: true, port: 8080, ...overrides };
}

export function specInput(containers: Record<string, unknown>[] = [containerInput()]) {
  return { containerGroups: [{ name: 'default', containers }] };
}

export function artifactInput(overrides: Record<string, unknown> = {}) {
  return { name: 'hello', description: 'says hello', spec: specInput(), ...overrides };
}

let counter = 0;
/** A workload input with a unique name. */
export function workloadInput(overrides: Record<string, unknown> = {}) {
  counter += 1;
  return { name: `workload-${counter}`, ...overrides };
}
