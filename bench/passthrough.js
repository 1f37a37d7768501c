// The benchmark's floor: no auth, no routing, no header work. Every request goes to the same
// example origin the gateway forwards to, through the same kind of service binding.
export default {
  fetch(request, env) {
    return env.CHAT.fetch(request);
  },
};
